"""Engines: each stage's work on one pandas frame or partition by partition on Dask."""
