"""What we believe before data: weight priors, GP priors, GP-matched functional priors."""
