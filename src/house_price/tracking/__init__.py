"""Tracking: everything MLflow (runs, registry, the pyfunc model) and promotion (the pure
decision in promotion.py; champion.py scores the champion and the new version on the test rows
neither was trained on, trained_rows.py's keys telling which, and records the decision under
promotion_lock.py's lock in the registry)."""
