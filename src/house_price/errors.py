"""The expected failures: each stage turns these into one line on stderr and exit 1.

Kept free of imports so that catching them costs a stage nothing."""


class DataError(ValueError):
    """Input that does not fit the declared schema; its message names the file, column, problem."""


class BundleError(RuntimeError):
    """A bundle directory that is missing, incomplete or inconsistent."""


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used (unreachable server, unknown run)."""


class QualityGateError(RuntimeError):
    """The evaluated model misses the quality gate set in params.yaml."""
