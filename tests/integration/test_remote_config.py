"""docs/remote.md's "Older revisions and `.dvc/config.local`", by experiment with the installed
DVC on a small DVC repository: a param and a DVC-cached metric committed before the remote, an
experiment run on that commit, then the page's set-up block run as written (the remote's URL and
endpoint committed, the keys in the environment).

For each way the page gives a clone its remote settings (nothing in .dvc/config.local; the whole
remote there, keys included) `dvc metrics diff HEAD~1` and `dvc params diff HEAD~1` show the old
revision's values, and `dvc exp apply` of the early experiment leaves every dvc command working,
`make reset` included. The way the page warns against (keys of the committed remote in
.dvc/config.local, what it once taught) loses the old values without a word, and after `dvc exp
apply` every command fails with what the page's table quotes, until `.dvc/config` is restored.
Nothing here talks to the remote: tests/system/test_dvc_remote.py does, on a real S3 API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import clean_env, commit_all, run, set_params
from docs_blocks import REPO, bash_block, run_lines
from servers import VENV_BIN

pytestmark = pytest.mark.slow

PAGE = REPO / "docs" / "remote.md"
DOUBLE = """import json, yaml
a = yaml.safe_load(open("params.yaml"))["a"]
json.dump({"m": 2 * a}, open("metrics.json", "w"))
"""
PIPELINE = {
    "stages": {
        "double": {
            "cmd": "python double.py",
            "deps": ["double.py"],
            "params": ["a"],
            "metrics": ["metrics.json"],  # cached by DVC, git-ignored: as the project's
        }
    }
}
KEYS = ("access_key_id", "AKIAEXAMPLE"), ("secret_access_key", "example")
WAYS = ["keys-in-the-environment", "whole-remote-local", "keys-of-the-committed-remote"]
URL = "s3://my-bucket/house-price"  # the page's set-up block's
CONFIG_ERROR_EXIT = 251  # DVC's exit code for a config it refuses (the page's table)


def config_error() -> str:
    """The message the page's table quotes for a config.local that refers to no remote."""
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| `config file")]
    assert len(rows) == 1, rows
    return rows[0].split("`")[1]


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["dvc", *args], cwd=repo, check=check)


def a_and_m(repo: Path) -> tuple[int, int]:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    return params["a"], json.loads((repo / "metrics.json").read_text())["m"]


def make_reset(repo: Path) -> subprocess.CompletedProcess[str]:
    """The project's `make reset`, its venv as it is (not remade)."""
    venv = VENV_BIN.parent
    command = ["make", "-f", str(REPO / "Makefile"), f"VENV={venv}", "-o", f"{venv}/bin/activate"]
    return run([*command, "reset"], cwd=repo, check=False)


def early_history(repo: Path) -> None:
    """a: 1 committed before the remote, the experiment `early` (a: 5) run on it, then the page's
    set-up block, as written: the remote's URL and endpoint committed."""
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    dvc(repo, "init", "-q")
    (repo / "double.py").write_text(DOUBLE)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE))
    (repo / "params.yaml").write_text("a: 1\n")
    dvc(repo, "repro")
    commit_all(repo, "before the remote")
    dvc(repo, "exp", "run", "--temp", "--name", "early", "-S", "a=5")
    run_lines(bash_block(PAGE, "Set up"), repo, clean_env())
    assert "endpointurl" in run(["git", "show", "HEAD:.dvc/config"], cwd=repo).stdout


def set_way(repo: Path, way: str) -> None:
    if way == "whole-remote-local":  # the page's block, then keys too
        run_lines(bash_block(PAGE, "Older revisions and `.dvc/config.local`"), repo, clean_env())
    if way != "keys-in-the-environment":
        for option, value in KEYS:
            dvc(repo, "remote", "modify", "--local", "storage", option, value)


def older_revision_diffs(repo: Path, way: str) -> None:
    """`dvc metrics diff HEAD~1` and `dvc params diff HEAD~1` after a: 2 in the workspace."""
    set_params(repo, a=2)
    dvc(repo, "repro")
    metrics = json.loads(dvc(repo, "metrics", "diff", "HEAD~1", "--json").stdout)
    params = json.loads(dvc(repo, "params", "diff", "HEAD~1", "--json").stdout)
    if way == "keys-of-the-committed-remote":
        # Every value "new", without a word; -v names DVC's refusal of HEAD~1's config.
        assert metrics["metrics.json"]["m"]["old"] is None, metrics
        assert params["params.yaml"]["a"]["old"] is None, params
        verbose = dvc(repo, "params", "diff", "HEAD~1", "-v")
        assert config_error() in verbose.stderr, verbose.stderr
    else:
        assert metrics == {"metrics.json": {"m": {"old": 2, "new": 4, "diff": 2}}}
        assert params == {"params.yaml": {"a": {"old": 1, "new": 2, "diff": 1}}}
    run(["git", "checkout", "--", "params.yaml", "dvc.lock"], cwd=repo)
    dvc(repo, "checkout", "--force")


def apply_the_early_experiment(repo: Path, way: str) -> None:
    """`dvc exp apply early`, then dvc's commands and `make reset`."""
    applied = dvc(repo, "exp", "apply", "early", check=False)
    # The experiment's commit comes with its .dvc/config, which has no remote.
    assert "storage" not in (repo / ".dvc" / "config").read_text()
    status = dvc(repo, "status", check=False)
    if way == "keys-of-the-committed-remote":
        for result in (applied, status):
            assert result.returncode == CONFIG_ERROR_EXIT, result.stderr
            assert config_error() in result.stderr, result.stderr
        reset = make_reset(repo)
        assert reset.returncode != 0
        assert config_error() in reset.stderr, reset.stderr
        run(["git", "checkout", "HEAD", "--", ".dvc/config"], cwd=repo)  # the table's fix
        assert dvc(repo, "status", check=False).returncode == 0
        return
    assert applied.returncode == 0, applied.stderr
    assert status.returncode == 0, status.stderr
    assert a_and_m(repo) == (5, 10)
    remotes = dvc(repo, "remote", "list").stdout.split()
    if way == "whole-remote-local":
        assert remotes[:2] == ["storage", URL], remotes
    else:  # the page: `git checkout HEAD -- .dvc/config` brings the remote back
        assert remotes == []
    reset = make_reset(repo)
    assert reset.returncode == 0, reset.stderr
    assert a_and_m(repo) == (1, 2)
    run(["git", "checkout", "HEAD", "--", ".dvc/config"], cwd=repo)
    assert dvc(repo, "remote", "list").stdout.split()[:2] == ["storage", URL]
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}


@pytest.mark.parametrize("way", WAYS)
def test_older_revisions_with_the_remote_set_up_each_way(way: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    early_history(repo)
    set_way(repo, way)
    older_revision_diffs(repo, way)
    apply_the_early_experiment(repo, way)
