"""`python -m house_price.healthcheck [PATH]`: the image's HEALTHCHECK (and compose's). Asks
the server started by `python -m house_price.serve` in the same environment for PATH (default
/readyz) on the address it listens on, HOST and PORT as the server reads them; exit 0 on a 200,
else 1 with one line saying why (Docker keeps it in `docker inspect`'s health log).

A fixed 127.0.0.1 was wrong whenever HOST named another address: with HOST=127.0.0.2 the server
served and the container was reported unhealthy. HOST 0.0.0.0 (every IPv4 address, the image's
default) is asked on 127.0.0.1, and :: on ::1: an address that listens everywhere listens on the
loopback of its family. Exit 1 for every failure, a bad argument included: Docker reserves 2.
No proxy is asked (http.client reads no proxy variable), and standard library only: this runs
every 10 s.
"""

from __future__ import annotations

import http.client
import ipaddress
import sys

from house_price.api.core.config import Settings
from house_price.core.errors import first_line

DEFAULT_PATH = "/readyz"
TIMEOUT_S = 2.0  # below the HEALTHCHECK's --timeout=3s, so the reason is printed, not cut off


def connect_host(host: str) -> str:
    """The address to ask a server that listens on `host`: the address itself, the loopback of
    its family for a wildcard (0.0.0.0, ::), a name (localhost) as it is. An IPv6 address is
    given without brackets (`[::1]` is ::1): http.client adds them to the Host header."""
    bare = host.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare  # a host name
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return bare


def url_host(host: str) -> str:
    """`host` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def check(host: str, port: int, path: str = DEFAULT_PATH, timeout: float = TIMEOUT_S) -> str | None:
    """None when GET `path` on the server listening on `host`:`port` answers 200, else why not
    (one line)."""
    target = connect_host(host)
    url = f"http://{url_host(target)}:{port}{path}"
    connection = http.client.HTTPConnection(target, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read(300).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return f"{url}: {first_line(exc)}"
    finally:
        connection.close()
    if response.status != 200:
        return f"{url} answered {response.status}: {' '.join(body.split())}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and not args[0].startswith("/")):
        print("healthcheck: usage: python -m house_price.healthcheck [/PATH]", file=sys.stderr)
        return 1
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    if settings.port == 0:
        print("healthcheck: PORT=0: the server took a free port, unknown here", file=sys.stderr)
        return 1
    problem = check(settings.host, settings.port, args[0] if args else DEFAULT_PATH)
    if problem is not None:
        print(f"healthcheck: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
