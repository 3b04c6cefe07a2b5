"""Argument types and options shared by the ``posterior`` subcommands."""

import argparse
import os


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_int_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated integers >= 1, e.g. ``1,16``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return tuple(positive_int(part) for part in parts)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cpu-devices``: how many JAX CPU devices to expose (one per core by default)."""
    parser.add_argument(
        "--cpu-devices", type=positive_int, default=available_cores(), metavar="N",
        help="expose N CPU cores as N JAX devices (default: all cores available, here %(default)s)")
