"""The Debian packages the engine needs (idempotent), installed by scripts/debian_packages.py
(apt-get, without starting the packages' services)."""

from __future__ import annotations

from scripts.debian_packages import InstallError, install, missing

from .config import PACKAGES
from .procs import Failure, log


def ensure() -> None:
    absent = missing(PACKAGES)
    if not absent:
        return
    log(f"installing: {' '.join(absent)}")
    try:
        install(absent)
    except InstallError as exc:
        raise Failure(str(exc)) from None
