"""The data layer: the synthetic generator, cleaning, and the derived-feature arithmetic."""
