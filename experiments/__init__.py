"""The ``posterior`` command line: run, sweep, table and bench (``experiments.cli``)."""
