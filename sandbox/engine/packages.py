"""The Debian packages the engine and `make monitor` need (idempotent)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .config import PACKAGES, SYSTEM_PATH
from .procs import Failure, log

# Without systemd, maintainer scripts would start the system's dockerd, registry, Prometheus
# (holding :9090) and Alertmanager through /etc/init.d; a policy-rc.d answering 101 forbids that.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package], capture_output=True, text=True
    )
    return result.stdout.startswith("ii")


def ensure() -> None:
    missing = [p for p in PACKAGES if not installed(p)]
    if not missing:
        return
    log(f"installing: {' '.join(missing)}")
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
            [*apt, "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as exc:
        raise Failure(f"apt-get {exc.cmd[3]} exited {exc.returncode}") from None
    finally:
        if added:
            POLICY_RC_D.unlink(missing_ok=True)
