"""Processes we start and stop: tracked by pidfiles, signalled only when their command line is
ours (guards against pid reuse and against ever stopping somebody else's process)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class Failure(Exception):  # noqa: N818 (a failed action, reported as one line)
    """What went wrong, for the user."""


def log(message: str) -> None:
    print(f"[sandbox] {message}", file=sys.stderr, flush=True)


def read_pid(pidfile: Path) -> int | None:
    try:
        first = pidfile.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 here may reap orphans late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def is_ours(pid: int, marker: str) -> bool:
    """Alive, and `marker` (a path only we use) is in its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return alive(pid) and marker in cmdline


def our_pid(pidfile: Path, marker: str) -> int | None:
    pid = read_pid(pidfile)
    return pid if pid is not None and is_ours(pid, marker) else None


def launch(pidfile: Path, logfile: Path, command: Sequence[str], env: Mapping[str, str]) -> int:
    """A daemon in a session of its own (a Ctrl-C or a process-group kill of the caller does not
    reach it), its pid in `pidfile`. Python's descriptors are not inherited, so it cannot hold
    our lock."""
    with open(logfile, "ab") as out:
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pidfile.write_text(f"{process.pid}\n")
    return process.pid


def stop(pid: int, name: str, timeout: float) -> None:
    """TERM, a bounded wait, then KILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                log(f"{name} (pid {pid}) stopped")
                return
            time.sleep(0.25)
        if sig == signal.SIGTERM:
            log(f"{name} (pid {pid}) did not exit within {timeout:.0f}s, sending KILL")
    raise Failure(f"{name} (pid {pid}) survived SIGKILL")


def tail(path: Path, lines: int = 20) -> None:
    with contextlib.suppress(OSError):
        print(*path.read_text(errors="replace").splitlines()[-lines:], sep="\n", file=sys.stderr)
