"""Training: the regressor's cross-validated fit, its metrics, and tuning."""
