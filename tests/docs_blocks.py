"""The docs' fenced blocks, for the tests that check them (tests/unit/test_docs.py) and those that
run a page's steps as a user would (tests/integration/test_docs_steps.py, test_remote_config.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
STEP_TIMEOUT_S = 600


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def section(page: Path, heading: str) -> str:
    """The text under `heading` (any level), up to the next heading."""
    text = page.read_text()
    # Headings outside the fences only (a bash comment starts with `# ` too), offsets kept.
    masked = FENCE.sub(lambda fence: re.sub(r"[^\n]", " ", fence.group(0)), text)
    found = re.search(rf"^#+ {re.escape(heading)}\n", masked, re.M)
    assert found, f"{page.name}: no heading {heading!r}"
    end = re.compile(r"^#+ ", re.M).search(masked, found.end())
    return text[found.end() : end.start() if end else len(text)]


def bash_block(page: Path, heading: str) -> str:
    """The one ```bash block of the section `heading`."""
    found = [body for lang, body in FENCE.findall(section(page, heading)) if lang == "bash"]
    assert len(found) == 1, f"{page.name}, {heading!r}: {len(found)} bash blocks"
    return found[0]


def shell_lines(block: str) -> list[str]:
    """The block's command lines, continuation lines joined, comment-only lines left out."""
    lines = block.replace("\\\n", " ").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def run_lines(
    block: str, cwd: Path, env: dict[str, str], replace: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Each command line of `block` (after `replace`), one bash after another in `cwd`; a line
    that fails (a failing part of an `a && b` line too) fails the test, naming it."""
    done = []
    for line in shell_lines(block):
        for old, new in (replace or {}).items():
            line = line.replace(old, new)
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
        )
        assert result.returncode == 0, f"`{line}` exited {result.returncode}:\n{result.stderr}"
        done.append(result)
    return done
