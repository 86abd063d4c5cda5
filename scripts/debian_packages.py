"""The Debian packages a project file lists, installed when missing, their services not started.

    python3 scripts/debian_packages.py monitoring/debian-packages.txt

One package a line; `#` starts a comment. When every package is installed it does nothing and
needs no root. A missing one is installed with apt-get, which needs root: it writes the system's
package database and /usr. As another user it stops with one line naming the packages and the
command to run with sudo. While apt-get runs, a policy-rc.d forbids the packages' maintainer
scripts to start their services: `prometheus` would otherwise start the system's own Prometheus
on :9090, the port `make monitor` wants. `make monitor` and sandbox/engine (the container
engine's packages) install through it. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Debian's own tools first: /usr/sbin is not on a non-login PATH. apt-get's PATH here, and the
# one sandbox/engine gives the engine's tools (dockerd finds containerd and runc through it).
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class InstallError(Exception):
    """apt-get failed, or it would be needed without root: one line for the user."""


def read_packages(path: Path) -> list[str]:
    """The package names of a list file: one a line, `#` comments and blank lines skipped."""
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [name for name in names if name]


def installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.startswith("ii")


def missing(packages: Sequence[str]) -> list[str]:
    return [package for package in packages if not installed(package)]


def install(packages: Sequence[str]) -> None:
    """apt-get install `packages` (root only), without recommends and without starting services."""
    env = {**os.environ, "PATH": SYSTEM_PATH, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    added = not POLICY_RC_D.exists()  # only remove what we added
    if added:
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        subprocess.run([*apt, "update", "-qq"], env=env, check=True)
        # No recommends: they pull needrestart, apparmor and git.
        subprocess.run(
            [*apt, "install", "-y", "-qq", "--no-install-recommends", *packages],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as exc:
        raise InstallError(f"apt-get {exc.cmd[3]} exited {exc.returncode}") from None
    finally:
        if added:
            POLICY_RC_D.unlink(missing_ok=True)


def main(argv: Sequence[str]) -> int:
    prog = "debian_packages"
    if not argv or argv[0].startswith("-"):
        print(f"usage: python3 {sys.argv[0]} LIST_FILE...", file=sys.stderr)
        return 2
    try:
        packages = [name for path in argv for name in read_packages(Path(path))]
    except OSError as exc:
        print(f"{prog}: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        absent = missing(packages)
    except FileNotFoundError:
        print(
            f"{prog}: error: no dpkg-query: {', '.join(packages)} are Debian packages (Debian, "
            "Ubuntu); elsewhere install them with this system's package manager",
            file=sys.stderr,
        )
        return 1
    if not absent:
        return 0
    if os.geteuid() != 0:
        command = " ".join(["sudo", "python3", sys.argv[0], *argv])
        print(
            f"{prog}: error: {', '.join(absent)} not installed; installing needs root (apt-get "
            f"writes the package database and /usr): run `{command}`",
            file=sys.stderr,
        )
        return 1
    print(f"{prog}: installing {' '.join(absent)}", file=sys.stderr)
    try:
        install(absent)
    except InstallError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
