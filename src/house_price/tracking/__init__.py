"""Tracking: everything MLflow (runs, registry, the pyfunc model) and promotion."""
