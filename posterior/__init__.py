"""What is being sampled and how samples are judged (models, likelihoods, metrics)."""
