"""Evaluation: the baselines, the quality gate and the plots."""
