"""Settings of the API (config)."""
