"""The docs' steps for a CSV of one's own, run line by line as a user runs them, in a fresh git
copy of the project: docs/remote.md's "Your own data in CI" (profile init, dvc add, repro, push,
git add, commit, push; a directory as the DVC remote and a bare repository as git's) and
docs/experiments.md's "Experiments on a CSV source" (dvc add, git add and commit, dvc exp run
--queue), there for the King County file, here for a CSV of one's own.

Every line must succeed: a `git add` of a file that no step writes exits 128 (the docs once
staged data/external/<name>/.gitignore, which `dvc add` does not write when the root .gitignore
ignores the CSV), and nothing the steps made may be left out of the commit. tests/unit/test_docs.py
checks every page's `git add` paths without running them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import clean_env, git_copy, run, set_params
from docs_blocks import REPO, bash_block, run_lines

pytestmark = pytest.mark.slow

OWN_FOLDER = "data/external/mydata"
OWN_CSV = f"{OWN_FOLDER}/mydata.csv"


def user_env(home: Path) -> dict[str, str]:
    return clean_env(HOME=str(home))


def raw_csv(repo: Path, destination: Path) -> None:
    """A CSV of one's own: the default data's raw file (5,000 rows with the usual dirt)."""
    run(["dvc", "repro", "ingest"], cwd=repo)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo / "data" / "raw" / "data.csv", destination)
    run(["git", "checkout", "--", "dvc.lock"], cwd=repo)  # as committed


def porcelain(repo: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo).stdout


def test_own_data_in_ci_steps_run_as_documented(tmp_path: Path) -> None:
    repo = git_copy(tmp_path / "repo")
    home = tmp_path / "home"
    raw_csv(repo, home / "mydata.csv")  # the block copies ~/mydata.csv
    # What the page's set-up leaves: a default DVC remote (a directory here) and a git remote.
    storage = tmp_path / "dvc-storage"
    run(["dvc", "remote", "add", "-d", "storage", str(storage)], cwd=repo)
    run(["git", "commit", "-qam", "DVC remote"], cwd=repo)
    bare = tmp_path / "shared.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], cwd=tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], cwd=repo)
    run(["git", "push", "-q", "-u", "origin", "main"], cwd=repo)

    block = bash_block(REPO / "docs" / "remote.md", "Your own data in CI")
    assert "# set `dataset: mydata` in params.yaml, then" in block
    set_params(repo, dataset="mydata")  # that comment's step (the steps before do not read it)
    run_lines(block, repo, user_env(home))

    assert porcelain(repo) == ""  # everything the steps made is committed, or git-ignored
    shared = ["git", "--git-dir", str(bare)]
    pushed = run([*shared, "ls-tree", "-r", "--name-only", "main"], cwd=tmp_path).stdout.split()
    assert {f"{OWN_CSV}.dvc", "profiles/mydata.yaml", "params.yaml", "dvc.lock"} <= set(pushed)
    assert f"{OWN_CSV}" not in pushed
    params = yaml.safe_load(run([*shared, "show", "main:params.yaml"], cwd=tmp_path).stdout)
    assert params["dataset"] == "mydata"
    lock = yaml.safe_load(run([*shared, "show", "main:dvc.lock"], cwd=tmp_path).stdout)
    assert any(dep["path"] == OWN_FOLDER for dep in lock["stages"]["ingest"]["deps"])
    # The CSV is on the DVC remote, under the hash its .dvc file names.
    md5 = yaml.safe_load((repo / f"{OWN_CSV}.dvc").read_text())["outs"][0]["md5"]
    assert (storage / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def test_csv_source_experiment_steps_run_as_documented(tmp_path: Path) -> None:
    repo = git_copy(tmp_path / "repo")
    raw_csv(repo, repo / OWN_CSV)
    # docs/own-data.md's steps 1 and 2: the CSV in its folder, its profile drafted, committed.
    run(["house-price", "profile", "init", OWN_CSV, "--target", "price"], cwd=repo)
    run(["git", "add", "profiles/mydata.yaml"], cwd=repo)
    run(["git", "commit", "-qm", "mydata's profile"], cwd=repo)

    block = bash_block(REPO / "docs" / "experiments.md", "Experiments on a CSV source")
    replace = {
        "kingcounty/kc_house_data.csv": "mydata/mydata.csv",
        "dataset=kingcounty": "dataset=mydata",
    }
    run_lines(block, repo, clean_env(), replace)

    assert porcelain(repo) == ""
    committed = run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo).stdout.split()
    assert committed == [f"{OWN_CSV}.dvc"]
    status = run(["dvc", "queue", "status"], cwd=repo).stdout
    queued = [line for line in status.splitlines() if "Queued" in line]
    assert len(queued) == 1, status
