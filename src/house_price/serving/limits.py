"""The serving core's limits: the batch size the request models accept by default, the largest
values a setting can hold (what its consumer can hold: a larger value did not fail, it was
silently something else), and `int_env`, which reads a bounded integer setting from the
environment. The API's settings (house_price.api.core.config) and batch scoring read them."""

from __future__ import annotations

import os

DEFAULT_MAX_BATCH_ROWS = 10_000
MAX_THREADS = 2**31 - 1  # XGBoost's nthread is a C int
# A length is a Py_ssize_t (pydantic-core's max_length too): no batch, body, head or header
# list is larger.
MAX_SIZE = 2**63 - 1


def int_env(
    name: str, default: int, minimum: int, maximum: int | None = None, why: str = ""
) -> int:
    """The integer in environment variable `name` (`default` when unset or empty); ValueError
    naming the variable when it is not an integer from `minimum` to `maximum` (no maximum:
    `minimum` or more), with `why` the maximum is what it is. A maximum is what the value's
    consumer can hold: a larger PORT, for one, was logged as given and bound modulo 65536."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    problem = f"{name}={raw!r}: expected an integer {allowed}" + (f" ({why})" if why else "")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(problem) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(problem)
    return value


def model_threads_env() -> int:
    """MODEL_THREADS: XGBoost threads for large batches (default 0: XGBoost's choice).
    ValueError naming the variable when it is out of bounds."""
    return int_env("MODEL_THREADS", 0, 0, MAX_THREADS)
