"""The expected failures: each stage turns these into one line on stderr and exit 1.

Kept free of heavy imports so that catching them costs a stage nothing."""

import re
from collections.abc import Iterable

# What would break a one-line message or a YAML comment: the C0 and C1 control characters
# (newline, carriage return, tab, escape, NEL, ...) and the Unicode line and paragraph
# separators, every character str.splitlines() splits at among them.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class DataError(ValueError):
    """Input that does not fit the declared schema; its message names the file, column, problem."""


class BundleError(RuntimeError):
    """A bundle directory that is missing, incomplete or inconsistent."""


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used (unreachable server, unknown run)."""


class ClusterError(RuntimeError):
    """The Dask cluster the engine was pointed at cannot be reached."""


class QualityGateError(RuntimeError):
    """The evaluated model misses the quality gate set in params.yaml."""


def escaped(text: str) -> str:
    """`text` with each `CONTROL` character written as its escape (`\\n`, `\\x1b`, `\\u2028`): one
    line, whatever a file held. Text without one is returned as it is."""
    return CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def name_list(names: Iterable[object], limit: int = 12) -> str:
    """`a, b, c and 9 more`: a list for a message, never cut without saying so; each name
    `escaped`, so that a header or category read from a file never breaks the line."""
    items = [escaped(str(name)) for name in names]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, or its type's name when the message is
    blank (`OSError()`, a BadStatusLine of a bare newline): never an empty reason."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def error_line(exc: Exception) -> str:
    """The one line the stages and `house-price` print for an expected failure: the error's
    message, or for a file this user may not read or write (or whose folder it may not
    search) the path and what to check."""
    if not isinstance(exc, PermissionError):
        return escaped(str(exc))  # the last guard: whatever a message quotes, one line
    where = exc.filename if exc.filename is not None else "a file"
    reason = (exc.strerror or "permission denied").lower()
    return (
        f"{where}: {reason}: this user may not use it; check the permissions of the file and "
        "of the folders on its path"
    )
