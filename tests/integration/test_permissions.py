"""Files this user may not read or write: one line naming the path the user gave (never the
temporary file beside it), exit 1, no traceback; from `house-price` and from a stage.

Root reads and writes anything, so as root the commands run as user 65534 (nobody) through
util-linux's setpriv; as any other user they run as that user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import VENV_BIN, clean_env

NOBODY = 65534
AS_ANOTHER_USER = (
    ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if os.geteuid() == 0
    else []
)
ADVICE = (
    "this user may not use it; check the permissions of the file and of the folders on its path"
)
CSV = "sqft,price\n" + "".join(f"{(i * 37) % 50 + 10},{100 + i * 7 % 13}\n" for i in range(20))


@pytest.fixture
def home() -> Iterator[Path]:
    """A folder the other user may enter and read (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="house-price-permissions-"))
    folder.chmod(0o755)
    (folder / "houses.csv").write_text(CSV)
    (folder / "houses.csv").chmod(0o644)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):  # a 0o000 folder stops rmtree as a non-root user
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def run_as_other(home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AS_ANOTHER_USER, *command],
        cwd=home,
        env=clean_env(HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def profile_init(home: Path, source: str, output: str) -> subprocess.CompletedProcess[str]:
    cli = str(VENV_BIN / "house-price")
    return run_as_other(
        home, cli, "profile", "init", source, "--target", "price", "--output", output
    )


def test_an_unreadable_csv_is_named(home: Path) -> None:
    (home / "houses.csv").chmod(0o600 if AS_ANOTHER_USER else 0o000)
    result = profile_init(home, "houses.csv", "out.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"house-price: error: houses.csv: permission denied: {ADVICE}\n"
    assert not (home / "out.yaml").exists()


def test_a_csv_in_a_folder_that_cannot_be_searched_is_named(home: Path) -> None:
    locked = home / "locked"
    locked.mkdir()
    shutil.copy(home / "houses.csv", locked / "houses.csv")
    locked.chmod(0o700 if AS_ANOTHER_USER else 0o000)
    result = profile_init(home, "locked/houses.csv", "out.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"house-price: error: locked/houses.csv: permission denied: {ADVICE}\n"


@pytest.mark.parametrize(
    ("output", "named"),
    [("readonly/profile.yaml", "readonly/profile.yaml"), ("readonly/new/p.yaml", "readonly/new")],
    ids=["file in it", "folder in it"],
)
def test_an_output_in_a_folder_that_cannot_be_written_is_named(
    home: Path, output: str, named: str
) -> None:
    """The output's own path (or the folder that could not be made), not the hidden temporary
    file that atomic_path failed to create beside it."""
    (home / "readonly").mkdir(mode=0o555)
    (home / "readonly").chmod(0o555)
    result = profile_init(home, "houses.csv", output)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"house-price: error: {named}: permission denied: {ADVICE}\n"
    assert list((home / "readonly").iterdir()) == []


def test_a_stage_names_the_file_too(home: Path) -> None:
    """stage.run, which every stage's entry script calls, prints the same line."""
    (home / "houses.csv").chmod(0o600 if AS_ANOTHER_USER else 0o000)
    script = home / "probe.py"
    script.write_text(
        textwrap.dedent(
            """
            from house_price.core.io import read_raw_csv
            from house_price.core.stage import run

            run(lambda: read_raw_csv("houses.csv"))
            """
        )
    )
    script.chmod(0o644)
    result = run_as_other(home, sys.executable, str(script))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"probe: error: houses.csv: permission denied: {ADVICE}\n"


def test_predict_names_the_file_as_profile_init_does(home: Path) -> None:
    """`predict` turned any OSError into `[Errno 13] Permission denied: '...'`; it prints the
    same line as every other command (the file is read before the model is loaded)."""
    (home / "houses.csv").chmod(0o600 if AS_ANOTHER_USER else 0o000)
    cli = str(VENV_BIN / "house-price")
    result = run_as_other(
        home, cli, "predict", "--input", "houses.csv", "--output", "out.csv", "--model", "none"
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"house-price: error: houses.csv: permission denied: {ADVICE}\n"
    assert not (home / "out.csv").exists()
