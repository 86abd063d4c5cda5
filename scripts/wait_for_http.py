#!/usr/bin/env python3
"""Wait, with a hard bound, until an HTTP endpoint answers with the expected status.

    python scripts/wait_for_http.py URL --timeout SECONDS [--status 200] [--interval SECONDS]

Polls URL with GET, each attempt with a short timeout of its own, until the response status
equals --status (default 200) or --timeout seconds have passed. Exit 0 when ready; exit 1 with
one line on stderr naming the URL, the bound and the last status or error seen; exit 2 on bad
arguments. Standard library only, so it runs before anything is installed (CI, the rehearsal,
a fresh clone). Environment proxies are ignored: the targets are local services.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

PROG = "wait_for_http"
MAX_ATTEMPT_TIMEOUT = 5.0  # seconds; one hung connection must not eat the whole bound

# No proxies: a corporate HTTP(S)_PROXY must never see (or break) loopback traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Attempt:
    """Outcome of one GET: an HTTP status, or the error that prevented one."""

    status: int | None
    error: str | None = None

    def describe(self) -> str:
        if self.status is not None:
            return f"last status {self.status}"
        return f"last error: {self.error}"


def check_url(url: str) -> None:
    """Reject anything but an absolute http(s) URL (urllib would also open file://)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")


def probe(url: str, timeout: float) -> Attempt:
    """One GET with its own timeout. Never raises for network trouble."""
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (scheme checked)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            return Attempt(status=response.status)
    except urllib.error.HTTPError as exc:  # a real answer with a non-2xx status
        exc.close()
        return Attempt(status=exc.code)
    except urllib.error.URLError as exc:
        return Attempt(status=None, error=str(exc.reason))
    except (TimeoutError, OSError) as exc:  # socket timeout, reset, refused mid-read
        return Attempt(status=None, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    except Exception as exc:  # e.g. http.client.BadStatusLine
        return Attempt(status=None, error=f"{type(exc).__name__}: {exc}".rstrip(": "))


def wait_for(
    url: str,
    timeout: float,
    status: int = 200,
    interval: float = 1.0,
) -> tuple[bool, Attempt, float]:
    """Poll url until it answers `status` or `timeout` seconds pass.

    Returns (ready, last attempt, elapsed seconds). The bound is strict: no attempt starts
    after the deadline and no attempt's own timeout reaches past it.
    """
    check_url(url)
    start = time.monotonic()
    deadline = start + timeout
    last = Attempt(status=None, error="no attempt made")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, last, time.monotonic() - start
        last = probe(url, timeout=max(0.1, min(MAX_ATTEMPT_TIMEOUT, remaining)))
        if last.status == status:
            return True, last, time.monotonic() - start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, last, time.monotonic() - start
        time.sleep(min(interval, remaining))


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Wait (bounded) until URL answers with the expected HTTP status.",
    )
    parser.add_argument("url", help="absolute http(s) URL to GET")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        required=True,
        help="give up after this many seconds (required: every wait has a bound)",
    )
    parser.add_argument("--status", type=int, default=200, help="expected status (default 200)")
    parser.add_argument(
        "--interval", type=positive_float, default=1.0, help="seconds between attempts"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ready, last, elapsed = wait_for(args.url, args.timeout, args.status, args.interval)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if ready:
        print(f"{PROG}: {args.url} answered {last.status} after {elapsed:.1f}s")
        return 0
    print(
        f"{PROG}: {args.url} did not answer {args.status} within {args.timeout:g}s "
        f"({last.describe()})",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
