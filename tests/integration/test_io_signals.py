"""What a process does when it is stopped mid-write, in a real subprocess (the in-process cases of
house_price.core.io are in tests/unit/training/test_model.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_sigterm_removes_the_temporary_file_of_a_write(tmp_path: Path) -> None:
    """A stage or `house-price predict` stopped by SIGTERM (timeout, a scheduler) mid-write
    leaves no hidden partial file: exit_on_sigterm turns it into SystemExit."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from house_price.core.io import atomic_path, exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        f"with atomic_path(Path({str(tmp_path / 'out.csv')!r})) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    signal.pause()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr
    assert leftovers(tmp_path) == []
