"""The shape's size limits (docs/architecture.md): no module of the package over 400 lines, no
stage script over 100 (DVC's example-get-started keeps its stages at 60-100)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIMITS = {"src/house_price": 400, "stages": 100}


@pytest.mark.parametrize("folder", list(LIMITS))
def test_no_file_is_over_its_limit(folder: str) -> None:
    sizes = {
        path.relative_to(REPO).as_posix(): len(path.read_text().splitlines())
        for path in sorted((REPO / folder).rglob("*.py"))
    }
    assert sizes  # the folder holds the code
    assert {path: lines for path, lines in sizes.items() if lines > LIMITS[folder]} == {}
