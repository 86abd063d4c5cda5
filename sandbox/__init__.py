"""Tooling for machines without a Docker engine or an image registry (see README.md)."""
