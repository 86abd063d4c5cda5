"""Promotion against a real `mlflow server` (sqlite backend) of this module's own: the champion
and the challenger compared only on test rows neither was trained on, whatever split or data
file made them (a change of seed, of test size, of the data file, the same split, a champion
registered before its training rows were recorded, another data set); and two promotions
racing against one server, by two processes as two machines would: one at a time, the second
comparing with the first's result, also when a dead run left the lock behind."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import REPO, clean_env
from servers import start_mlflow_server, stop_process_group
from tiny_bundle import TinyPipeline, build_tiny_bundle, tiny_data

from house_price.core.errors import TrackingError
from house_price.core.params import Mlflow
from house_price.core.tables import read_head
from house_price.evaluation.gate import better, rounded
from house_price.schema import Profile
from house_price.tracking import promotion_lock, registry, trained_rows
from house_price.tracking.champion import _still_current, challenge
from house_price.tracking.promotion import MIN_COMPARED_ROWS, Decision
from house_price.training.model import regression_metrics

pytestmark = pytest.mark.slow

ROWS = 2000  # about 400 test rows: a fifth of them (another seed's) is still enough to compare
RACE_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("mlflow-promotion")
    process, url = start_mlflow_server(home, clean_env(), home / "server.log")
    try:
        yield url
    finally:
        stop_process_group(process)


@pytest.fixture
def store(tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    return registry.connect()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyPipeline]:
    """Tiny pipelines on one data set: the champion's split (seed 42, 20 %), another seed,
    another test size, the data file grown by new rows (and reordered), and few rows."""
    data = tiny_data(rows=ROWS)
    grown = pd.concat([data, tiny_data(rows=500, seed=8)], ignore_index=True)
    grown = grown.sample(frac=1.0, random_state=5).reset_index(drop=True)
    made = {
        "base": build_tiny_bundle(tmp_path_factory.mktemp("base"), data),
        "seed": build_tiny_bundle(tmp_path_factory.mktemp("seed"), data, split_seed=43),
        "test_size": build_tiny_bundle(tmp_path_factory.mktemp("size"), data, test_size=0.35),
        "grown": build_tiny_bundle(tmp_path_factory.mktemp("grown"), grown),
        "small": build_tiny_bundle(tmp_path_factory.mktemp("small")),
        "small_seed": build_tiny_bundle(tmp_path_factory.mktemp("small2"), split_seed=43),
    }
    return made


def profile_of(tiny: TinyPipeline) -> Profile:
    return tiny.bundle.profile


def register(name: str, tiny: TinyPipeline, record_rows: bool = True) -> tuple[str, str]:
    """As package registers a version: a run (with the keys of its training rows unless
    `record_rows` is False, as before they were recorded) and the bundle as a new version."""
    profile = profile_of(tiny)
    run_id = registry.log_run("promotion-tests", {}, {"dataset": profile.name}, {})
    if record_rows:
        columns = [column.name for column in profile.columns]
        registry.log_trained_rows(
            run_id, trained_rows.of_table(tiny.work / "train.parquet", columns)
        )
    examples = read_head(tiny.work / "test.parquet", 5, complete=profile.feature_names)
    return registry.log_bundle(run_id, tiny.bundle_dir, profile, examples, name), run_id


def metrics_of(tiny: TinyPipeline) -> dict[str, Any]:
    figures = rounded(regression_metrics(tiny.test["price"].to_numpy(float), tiny.predictions))
    return figures | {"baselines": {}}


def settings(name: str) -> Mlflow:
    return Mlflow.model_validate(
        {"experiment": "promotion-tests", "registered_model": name, "alias": "champion",
         "min_improvement": 0.002}
    )  # fmt: skip


def promote(
    name: str, tiny: TinyPipeline, version: str, run_id: str, dataset: str = "houses"
) -> dict[str, Any]:
    report, decision = challenge(
        name, version, run_id, "rmse", metrics_of(tiny), tiny.work / "test.parquet", "price",
        dataset, tiny.data_md5["test"], tiny.bundle_dir, settings(name),
    )  # fmt: skip
    assert report["promoted"] is decision.promote
    assert report["reason"] == decision.reason
    return report


def aliases(name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return {alias: str(v) for alias, v in MlflowClient().get_registered_model(name).aliases.items()}


def row_text(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.Series([repr(row) for row in frame[columns].itertuples(index=False, name=None)])


def unseen_rows(champion: TinyPipeline, challenger: TinyPipeline) -> pd.DataFrame:
    """The challenger's test rows that are not among the champion's training rows, found by
    their values as text (not by the keys under test)."""
    columns = [column.name for column in profile_of(champion).columns]
    seen = set(row_text(champion.train, columns))
    return challenger.test[~row_text(challenger.test, columns).isin(seen).to_numpy()]


def champion_then(name: str, champion: TinyPipeline, record_rows: bool = True) -> None:
    version, run_id = register(name, champion, record_rows)
    first = promote(name, champion, version, run_id)
    assert first["reason"] == "no champion yet"
    assert aliases(name) == {"champion": version}


@pytest.mark.parametrize("change", ["seed", "test_size", "grown"])
def test_after_a_change_of_split_or_data_both_are_scored_on_rows_neither_trained_on(
    store: str, bundles: dict[str, TinyPipeline], change: str
) -> None:
    """The champion is scored on the challenger's test rows it never trained on, and so is the
    challenger: the same rows, counted in the report, the decision by those figures."""
    name = f"promotion-{change}"
    champion, challenger = bundles["base"], bundles[change]
    champion_then(name, champion)
    version, run_id = register(name, challenger)
    report = promote(name, challenger, version, run_id)

    rows = unseen_rows(champion, challenger)
    held = report["champion"]
    assert held["version"] == "1"
    assert held["rows"] == len(rows) >= MIN_COMPARED_ROWS
    assert held["test_rows"] == len(challenger.test) > len(rows)
    actual = rows["price"].to_numpy(float)
    for bundle, figures in ((champion, held["metrics"]), (challenger, held["challenger_metrics"])):
        expected = rounded(regression_metrics(actual, bundle.bundle.predict_frame(rows)))
        assert figures == pytest.approx(expected, rel=1e-9, abs=1e-6)
    ours, theirs = held["challenger_metrics"]["rmse"], held["metrics"]["rmse"]
    assert report["promoted"] is better("rmse", ours, theirs, 0.002)
    assert report["reason"].endswith(
        f", on the {len(rows)} of {len(challenger.test)} test rows neither was trained on"
    )
    assert aliases(name)["champion"] == (version if report["promoted"] else "1")
    if change == "test_size":  # same seed, larger test split: the champion's test rows exactly
        assert len(rows) == len(champion.test)


def test_on_the_same_split_every_test_row_is_compared_as_before(
    store: str, bundles: dict[str, TinyPipeline]
) -> None:
    name = "promotion-same"
    champion_then(name, bundles["base"])
    version, run_id = register(name, bundles["base"])  # the same model again: a tie
    report = promote(name, bundles["base"], version, run_id)
    held = report["champion"]
    assert held["rows"] == held["test_rows"] == len(bundles["base"].test)
    assert held["challenger_metrics"] is None  # its test metrics are the ones compared
    assert held["metrics"]["rmse"] == pytest.approx(report["challenger"]["rmse"], rel=1e-9)
    assert report["promoted"] is False  # a tie never promotes
    assert "does not beat the champion v1's" in report["reason"]
    assert aliases(name) == {"champion": "1", "challenger": version}


def test_a_champion_without_a_record_of_its_rows_is_compared_only_on_its_own_split(
    store: str, bundles: dict[str, TinyPipeline]
) -> None:
    """A version registered before the training rows were recorded: on its own test split
    (the same file, by its md5) every row is compared; on another, none can be: it stays."""
    name = "promotion-old"
    champion_then(name, bundles["base"], record_rows=False)
    version, run_id = register(name, bundles["base"])
    same = promote(name, bundles["base"], version, run_id)
    assert same["champion"]["rows"] == len(bundles["base"].test)
    assert same["champion"]["not_compared"] is None

    version, run_id = register(name, bundles["seed"])
    other = promote(name, bundles["seed"], version, run_id)
    assert other["promoted"] is False
    assert other["champion"]["metrics"] is None
    assert other["reason"].startswith(
        "cannot compare with the champion v1 fairly: it was registered without a record of its "
        "training rows"
    )
    assert aliases(name) == {"champion": "1", "challenger": version}


def test_too_few_rows_unseen_by_both_keep_the_champion(
    store: str, bundles: dict[str, TinyPipeline]
) -> None:
    """600 rows, another seed: about 24 of the 120 test rows were not trained on by the
    champion, fewer than MIN_COMPARED_ROWS."""
    name = "promotion-few"
    champion_then(name, bundles["small"])
    version, run_id = register(name, bundles["small_seed"])
    report = promote(name, bundles["small_seed"], version, run_id)
    rows = len(unseen_rows(bundles["small"], bundles["small_seed"]))
    assert 0 < rows < MIN_COMPARED_ROWS
    assert report["promoted"] is False
    assert f"only {rows} of the {len(bundles['small_seed'].test)} test rows" in report["reason"]
    assert aliases(name)["champion"] == "1"


def test_a_champion_of_another_data_set_keeps_its_alias(
    store: str, bundles: dict[str, TinyPipeline]
) -> None:
    name = "promotion-dataset"
    champion_then(name, bundles["base"])
    version, run_id = register(name, bundles["seed"])
    report = promote(name, bundles["seed"], version, run_id, dataset="california")
    assert report["promoted"] is False
    assert "is a model of data set 'houses', this one of 'california'" in report["reason"]


RACER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from house_price.core.params import Mlflow
    from house_price.tracking import registry
    from house_price.tracking.champion import _still_current, challenge
    job = json.loads(sys.argv[1])
    registry.connect()
    Path(job["ready"]).touch()
    deadline = time.monotonic() + 120
    while not Path(job["go"]).exists():  # both start at once
        if time.monotonic() > deadline:
            sys.exit("no go within 120 s")
        time.sleep(0.005)
    settings = Mlflow.model_validate(job["settings"])
    report, _ = challenge(
        job["name"], job["version"], job["run_id"], "rmse", job["metrics"], Path(job["test"]),
        "price", "houses", job["test_md5"], Path(job["bundle"]), settings,
    )
    print(json.dumps(report))
    """
)


def race(name: str, entrants: list[tuple[TinyPipeline, str, str]], directory: Path, url: str):
    """Each entrant's `challenge` in its own process (as on its own machine), all released at
    once; their reports."""
    go = directory / "go"
    processes = []
    for index, (tiny, version, run_id) in enumerate(entrants):
        job = {
            "name": name, "version": version, "run_id": run_id, "metrics": metrics_of(tiny),
            "test": str(tiny.work / "test.parquet"), "test_md5": tiny.data_md5["test"],
            "bundle": str(tiny.bundle_dir), "settings": settings(name).model_dump(),
            "ready": str(directory / f"ready{index}"), "go": str(go),
        }  # fmt: skip
        env = clean_env(MLFLOW_TRACKING_URI=url, PYTHONPATH=str(REPO / "src"))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, json.dumps(job)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + RACE_TIMEOUT_S
    try:
        while not all((directory / f"ready{i}").exists() for i in range(len(entrants))):
            assert time.monotonic() < deadline, "the racers did not start"
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


@pytest.mark.parametrize("left_behind", [False, True], ids=["free", "dead run's lock"])
def test_two_promotions_racing_on_one_server_take_turns(
    store: str, tracking_server: str, bundles: dict[str, TinyPipeline], tmp_path: Path,
    left_behind: bool,
) -> None:  # fmt: skip
    """Two new versions and no champion yet: without a lock both would find no champion and
    both move the alias. With it, one promotes ("no champion yet") and the other compares with
    that one. With a lock left by a run that died (lease passed), they take it over, still one
    at a time."""
    from mlflow import MlflowClient

    name = f"promotion-race-{left_behind}".lower()
    entrants = [(bundles["base"], *register(name, bundles["base"]))]
    entrants.append((bundles["seed"], *register(name, bundles["seed"])))
    if left_behind:
        dead = {"holder": "dead", "host": "gone", "pid": "1", "expires": f"{time.time() - 1:.3f}"}
        MlflowClient().create_registered_model(promotion_lock.lock_name(name), tags=dead)
    reports = race(name, entrants, tmp_path, tracking_server)

    first, second = sorted(reports, key=lambda report: report["champion"] is not None)
    assert first["champion"] is None
    assert first["promoted"] is True
    assert second["champion"] is not None, "both compared with the same old champion (none)"
    assert second["champion"]["version"] == first["version"]
    expected = second["version"] if second["promoted"] else first["version"]
    assert aliases(name)["champion"] == expected
    tags = MlflowClient().get_model_version(name, second["version"]).tags
    assert tags["champion.version"] == first["version"]
    names = {model.name for model in MlflowClient().search_registered_models()}
    assert not {n for n in names if n.startswith(promotion_lock.lock_name(name))}  # released


def test_a_live_lock_is_waited_for_and_never_taken(store: str) -> None:
    from mlflow import MlflowClient

    name = "promotion-held"
    lock = promotion_lock.lock_name(name)
    live = {"holder": "other", "host": "ci-7", "pid": "42", "expires": f"{time.time() + 600}"}
    MlflowClient().create_registered_model(lock, tags=live)
    started = time.monotonic()
    with (
        pytest.raises(
            TrackingError, match=r"promotion lock .* is held by ci-7 pid 42, lease until"
        ),
        promotion_lock.promotion_lock(name, timeout=2.0),
    ):
        pass
    assert 2.0 <= time.monotonic() - started < 10
    assert MlflowClient().get_registered_model(lock).tags["holder"] == "other"  # untouched
    MlflowClient().delete_registered_model(lock)
    held = []

    def fail() -> None:
        with promotion_lock.promotion_lock(name) as lease:
            held.append(lease)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert not held[0].held()  # released although the body failed
    with promotion_lock.promotion_lock(name, timeout=5.0) as again:
        assert again.held()


def test_a_lock_past_its_lease_is_taken_over_once(store: str) -> None:
    """A dead run's lock: taken over; a takeover in progress (its marker) is left to its run."""
    from mlflow import MlflowClient

    client = MlflowClient()
    name = "promotion-stale"
    lock = promotion_lock.lock_name(name)
    client.create_registered_model(lock, tags={"holder": "dead", "expires": "1"})
    with promotion_lock.promotion_lock(name, timeout=10.0) as lease:
        assert client.get_registered_model(lock).tags["holder"] == lease.token
    assert not [m.name for m in client.search_registered_models() if m.name.startswith(lock)]
    # Another waiter is taking over a dead lock (its live marker): this one waits, no deletes.
    client.create_registered_model(lock, tags={"holder": "dead2", "expires": "1"})
    marker = f"{lock}.takeover.dead2"
    client.create_registered_model(marker, tags={"holder": "w", "expires": f"{time.time() + 60}"})
    with pytest.raises(TrackingError), promotion_lock.promotion_lock(name, timeout=2.0):
        pass
    assert client.get_registered_model(lock).tags["holder"] == "dead2"
    assert client.get_registered_model(marker).tags["holder"] == "w"


def test_the_alias_moves_only_if_it_still_points_at_the_version_compared_with(
    store: str, bundles: dict[str, TinyPipeline]
) -> None:
    """The re-check before the alias moves: moved by hand meanwhile, or the lock lost (held past
    its lease): the alias is left alone, the reason says why."""
    from mlflow import MlflowClient

    name = "promotion-moved"
    champion_then(name, bundles["base"])
    version, _ = register(name, bundles["seed"])
    MlflowClient().set_registered_model_alias(name, "champion", version)  # by hand
    wins = Decision(True, "rmse 1 beats the champion v1's 2", 0.5)
    with promotion_lock.promotion_lock(name) as lease:
        moved = _still_current(wins, name, "champion", "1", lease)
        assert _still_current(wins, name, "champion", version, lease) == wins
    assert not moved.promote
    assert moved.reason == (
        f"@champion moved to v{version} while this version was compared with v1; run package "
        f"again to compare with v{version} (it would have been: {wins.reason})"
    )
    lost = _still_current(wins, name, "champion", version, lease)  # released: no longer ours
    assert not lost.promote
    assert lost.reason.startswith("the promotion lock was lost")
