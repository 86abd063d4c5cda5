"""The endpoints, one router per concern: health and model info, predictions, metrics, docs."""
