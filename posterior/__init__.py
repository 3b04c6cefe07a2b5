"""What is being sampled and how samples are judged (models, likelihoods, metrics)."""

from posterior.draws import Draws, load_draws

__all__ = ["Draws", "load_draws"]
