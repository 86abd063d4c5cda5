"""The serving core: the bundle, the served model, request models and limits, batch scoring."""
