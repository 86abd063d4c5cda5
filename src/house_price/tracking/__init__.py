"""Tracking: everything MLflow (runs, registry, the pyfunc model) and promotion (the pure
decision in promotion.py; champion.py scores the champion and records the decision)."""
