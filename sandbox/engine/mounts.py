"""Mounts the engine leaves under the state directory (netns, its data root's bind mount,
container overlays, debootstrap's /proc and /sys)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .procs import log


def mounts_under(prefix: Path) -> list[str]:
    """Mount points below `prefix`, deepest first."""
    with open("/proc/self/mounts") as table:
        # Fields are octal-escaped (a space is \040).
        points = [line.split()[1].encode().decode("unicode_escape") for line in table]
    inside = f"{prefix}/"
    return sorted((p for p in points if p.startswith(inside)), reverse=True)


def unmount_all(prefix: Path, lazy_only: bool = False) -> None:
    for point in mounts_under(prefix):
        tries = [["umount", "-l", point]]
        if not lazy_only:
            tries.insert(0, ["umount", point])
        if not any(subprocess.run(t, capture_output=True).returncode == 0 for t in tries):
            log(f"could not unmount {point}")


def remove_tree(path: Path) -> None:
    """Never rm -rf through a still-mounted /proc or /sys."""
    if path.is_dir():
        unmount_all(path, lazy_only=True)
        shutil.rmtree(path, ignore_errors=True)
