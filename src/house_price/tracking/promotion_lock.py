"""The promotion lock: one promotion at a time per registered model, in the registry itself, so
that two runs on two machines sharing a tracking server never both compare with the same old
champion and both move its alias (the workspace's file lock, registry.registry_lock, only
orders the runs of one workspace).

The lock is a registered model, `<model>.promotion-lock`, in the same registry. Creating one is
atomic in MLflow's stores (the name is unique in the database; the second gets
RESOURCE_ALREADY_EXISTS), so of two runs one holds it and the other waits. Its tags name the
holder (a random token, host and pid) and the end of its lease; it is deleted when the
promotion ends, whatever the outcome. A holder that died (killed, machine lost) leaves it
behind: once the lease has passed, a waiter takes it over through a second atomic creation,
`<lock>.takeover.<token>`, so that of two waiters only one deletes it, and never a lock that
another run took meanwhile. Leases are compared with each machine's clock: clocks must agree
to well within LEASE_S (NTP does).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from house_price.core.errors import TrackingError

# A promotion scores the champion on the test split and moves an alias: seconds, a few minutes
# on millions of rows. A dead holder's lock blocks the others this long at most.
LEASE_S = 600.0
TAKEOVER_LEASE_S = 60.0  # a takeover deletes one registered model: far less than this
WAIT_S = 900.0  # longer than LEASE_S: a waiter outlives a dead holder's lease
POLL_S = 1.0
SUFFIX = ".promotion-lock"


def lock_name(registered_model: str) -> str:
    return f"{registered_model}{SUFFIX}"


@dataclass(frozen=True)
class Lease:
    """The lock `name`, held under `token`."""

    name: str
    token: str

    def held(self) -> bool:
        """Whether the lock is still ours: not released, nor taken over after its lease."""
        tags = _tags(self.name)
        return tags is not None and tags.get("holder") == self.token


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def _code(exc: Exception) -> str | None:
    return getattr(exc, "error_code", None)


def _tags(name: str) -> dict[str, str] | None:
    """The lock's tags; None when there is no lock."""
    from mlflow.exceptions import MlflowException

    try:
        return dict(_client().get_registered_model(name).tags)
    except MlflowException as exc:
        if _code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _create(name: str, token: str, lease: float, purpose: str) -> bool:
    """Create the lock `name` for `token`; False when another holds it. A retried request
    whose first try went through finds its own token: held."""
    from mlflow.exceptions import MlflowException

    tags = {
        "holder": token,
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        "expires": f"{time.time() + lease:.3f}",
    }
    try:
        _client().create_registered_model(name, tags=tags, description=purpose)
    except MlflowException as exc:
        if _code(exc) != "RESOURCE_ALREADY_EXISTS":
            raise
        found = _tags(name)
        return found is not None and found.get("holder") == token
    return True


def _delete(name: str, token: str | None = None) -> None:
    """Delete the lock `name` (only if `token` still holds it, when given); gone already is
    fine."""
    from mlflow.exceptions import MlflowException

    if token is not None:
        tags = _tags(name)
        if tags is None or tags.get("holder") != token:
            return
    try:
        _client().delete_registered_model(name)
    except MlflowException as exc:
        if _code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise


def _expired(tags: dict[str, str]) -> bool:
    try:
        return float(tags.get("expires", "")) < time.time()
    except ValueError:  # not one of ours: made by hand
        return True


def _take_over(name: str, stale: str | None) -> bool:
    """Delete the lock that `stale` held past its lease (None: a lock with no holder, made by
    hand), unless another waiter is doing so. Whether it is gone."""
    marker = f"{name}.takeover.{stale or 'unknown'}"
    purpose = f"a run deleting {name}, whose holder's lease has passed"
    if not _create(marker, uuid.uuid4().hex, TAKEOVER_LEASE_S, purpose):
        tags = _tags(marker)
        if tags is not None and _expired(tags):  # that waiter died too
            _delete(marker)
        return False
    try:
        _delete(name, stale)  # not if it was released and taken meanwhile
    finally:
        _delete(marker)
    return True


def _holder(tags: dict[str, str]) -> str:
    until = time.strftime("%H:%M:%S", time.localtime(float(tags.get("expires") or 0)))
    return f"{tags.get('host', '?')} pid {tags.get('pid', '?')}, lease until {until}"


@contextmanager
def promotion_lock(
    registered_model: str, timeout: float = WAIT_S, lease: float = LEASE_S
) -> Iterator[Lease]:
    """Hold `registered_model`'s promotion lock (waiting up to `timeout` seconds, taking over a
    lock whose lease has passed) for at most `lease` seconds; released on exit, whatever
    happened. TrackingError when it stays held by a live run for `timeout` seconds."""
    name, token = lock_name(registered_model), uuid.uuid4().hex
    purpose = (
        f"held while a run compares a new version of {registered_model} with its champion and "
        "moves the alias; deleted when it is done, or taken over once its lease has passed"
    )
    deadline = time.monotonic() + timeout
    while not _create(name, token, lease, purpose):
        tags = _tags(name)
        if tags is not None and _expired(tags) and _take_over(name, tags.get("holder")):
            continue
        if time.monotonic() > deadline:
            held_by = _holder(tags) if tags is not None else "another run"
            raise TrackingError(
                f"the registry's promotion lock {name!r} is held by {held_by}: waited "
                f"{timeout:g}s (it is deleted when that promotion ends)"
            )
        time.sleep(POLL_S)
    try:
        yield Lease(name, token)
    finally:
        _delete(name, token)
