"""The Dask engine (`engine: dask`) through real `dvc repro`, against the pandas engine on the
same data: once on a LocalCluster (one worker), once on a separately started `dask scheduler`
with two `dask worker` processes on loopback, reached through DASK_SCHEDULER_ADDRESS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from api_support import PARITY_RTOL, relative_difference, served_predictions
from conftest import REPO, clone_workspace, git_copy, run, set_params, shared_csv
from servers import clean_env, start_dask_cluster

from house_price.core.io import read_json
from house_price.core.params import load_params
from house_price.core.tables import partition_files, read_table
from house_price.engines.cluster import CONFIG_ENV, SCHEDULER_ADDRESS
from house_price.features import load_transformer
from house_price.serving.bundle import load_bundle

pytestmark = pytest.mark.slow

ROWS = 20_000  # synthetic houses: one raw partition (synthetic.BLOCK_ROWS is 100,000)
SPLITS = ("train", "test")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = git_copy(tmp_path_factory.mktemp("engines") / "base")
    set_params(repo, **{"synthetic.rows": ROWS})
    run(["git", "commit", "-qam", f"{ROWS} rows"], cwd=repo)
    return repo


def reproduced(base: Path, name: str, env: dict[str, str] | None = None, **params: object) -> Path:
    repo = clone_workspace(base, base.parent / name)
    set_params(repo, **params)
    run(["dvc", "repro"], cwd=repo, env=env or clean_env(), timeout=900)
    return repo


@pytest.fixture(scope="module")
def pandas_run(base: Path) -> Path:
    return reproduced(base, "pandas")


@pytest.fixture(scope="module")
def local_run(base: Path) -> Path:
    """The Dask engine on its default LocalCluster, here of one worker process."""
    return reproduced(base, "local", engine="dask", **{"dask.workers": 1})


@pytest.fixture(scope="module")
def distributed_run(base: Path) -> Iterator[Path]:
    """The Dask engine on a real cluster of its own: a scheduler and two workers."""
    directory = base.parent / "cluster"
    directory.mkdir()
    env = clean_env(**CONFIG_ENV)
    cluster = start_dask_cluster(directory, workers=2, env=env)
    try:
        yield reproduced(
            base, "distributed", clean_env(**{SCHEDULER_ADDRESS: cluster.address}), engine="dask"
        )
    finally:
        cluster.stop()


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def metrics(repo: Path) -> dict:
    return read_json(repo / "metrics.json")


def test_dask_engine_cleans_and_splits_as_the_pandas_engine(
    pandas_run: Path, local_run: Path, distributed_run: Path
) -> None:
    """The same cleaning report (every count), the same rows in each split, the same
    transformer statistics and baselines; each split is a directory of partitions."""
    report = read_json(pandas_run / "reports" / "process.json")
    assert report["rows_in"] == ROWS + round(ROWS * 0.005)  # the generator's duplicates
    assert report["dropped"]["duplicates"] > 50
    for repo in (local_run, distributed_run):
        assert read_json(repo / "reports" / "process.json") == report
        assert (repo / "data" / "raw" / "partitions").is_dir()
        assert not (repo / "data" / "raw" / "data.csv").exists()
        for split in SPLITS:
            path = repo / "data" / "processed" / f"{split}.parquet"
            assert path.is_dir()
            expected = read_table(pandas_run / "data" / "processed" / f"{split}.parquet")
            got = read_table(path)
            assert list(got.dtypes) == list(expected.dtypes)
            pd.testing.assert_frame_equal(sorted_rows(got), sorted_rows(expected))
        pandas_fit = load_transformer(pandas_run / "artifacts" / "transformer.joblib")
        dask_fit = load_transformer(repo / "artifacts" / "transformer.joblib")
        for name in ("numeric", "category"):
            step = pandas_fit.column_transformer_.named_transformers_[name]
            other = dask_fit.column_transformer_.named_transformers_[name]
            if name == "category":
                step, other = step["impute"], other["impute"]
            assert list(other.statistics_) == list(step.statistics_)
        assert metrics(repo)["baselines"] == metrics(pandas_run)["baselines"]
        assert metrics(repo)["test_rows"] == metrics(pandas_run)["test_rows"]


def test_the_split_does_not_depend_on_the_cluster(local_run: Path, distributed_run: Path) -> None:
    """One worker or two, a LocalCluster or a remote one: the same partitions, byte for
    byte (the manifest's hashes), and the same DVC hashes of both splits."""
    assert (
        read_json(local_run / "data/processed/manifest.json")
        == read_json(distributed_run / "data/processed/manifest.json")
    )  # fmt: skip
    locks = [
        yaml.safe_load((repo / "dvc.lock").read_text()) for repo in (local_run, distributed_run)
    ]
    outs = [
        {out["path"]: out["md5"] for out in lock["stages"]["process"]["outs"]} for lock in locks
    ]
    assert outs[0] == outs[1]


def test_dask_engine_quality_is_the_pandas_engines(
    pandas_run: Path, local_run: Path, distributed_run: Path
) -> None:
    """R² within 0.01 of the pandas engine's, on the same test rows; RMSLE near the floor."""
    expected = metrics(pandas_run)
    for repo in (local_run, distributed_run):
        got = metrics(repo)
        print(f"\n{repo.name}: r2 {got['r2']} (pandas {expected['r2']})")
        assert abs(got["r2"] - expected["r2"]) <= 0.01
        assert got["rmsle_over_noise_floor"] <= 1.1


def test_the_run_records_the_engine_and_the_cluster(local_run: Path, distributed_run: Path) -> None:
    """The MLflow run of each Dask engine's model: tagged with the engine, the cluster's size
    among its metrics, the engine among its params; the model registered as with pandas."""
    for repo, workers in ((local_run, 1), (distributed_run, 2)):
        training = read_json(repo / "artifacts" / "training.json")
        assert training["cluster"] == {"workers": workers, "threads": workers}
        bundle = repo / "models" / "house-price"
        (record,) = [read_json(path) for path in (bundle / "registrations").glob("*.json")]
        assert record["version"] == "1"
        client = mlflow.MlflowClient(tracking_uri=record["tracking_uri"])
        logged = client.get_run(record["run_id"]).data
        assert logged.tags["engine"] == "dask"
        assert logged.params["engine"] == "dask"
        assert logged.metrics["training.cluster.workers"] == workers


def test_the_dask_engines_bundle_serves_its_evaluated_rows(local_run: Path, tmp_path: Path) -> None:
    """The bundle the Dask engine packaged, served by the real API over HTTP, predicts every
    test row as evaluate predicted it partition by partition."""
    bundle_dir = local_run / "models" / "house-price"
    test = read_table(local_run / "data" / "processed" / "test.parquet")
    expected = read_table(local_run / "artifacts" / "test_predictions.parquet")["prediction"]
    assert len(partition_files(local_run / "artifacts" / "test_predictions.parquet")) >= 1
    bundle = load_bundle(bundle_dir)
    assert relative_difference(bundle.predict_frame(test), expected.to_numpy()) <= PARITY_RTOL
    served = served_predictions(bundle_dir, test, bundle.profile, tmp_path / "api.log")
    assert relative_difference(served, expected.to_numpy()) <= PARITY_RTOL


def test_the_quality_gate_stops_a_dask_model(local_run: Path, tmp_path: Path) -> None:
    repo = clone_workspace(local_run, tmp_path / "repo")
    set_params(repo, **{"evaluate.min_r2": 0.999})
    result = run(["dvc", "repro", "evaluate"], cwd=repo, check=False, timeout=600)
    assert result.returncode != 0
    assert "evaluate: error: quality gate failed: r2 0." in result.stderr
    assert "< min_r2 0.999" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- bad input: the same one line on both engines ---------------------------------------------


@pytest.fixture(scope="module")
def california(base: Path) -> Path:
    """The project on the first 5,000 California rows, one field broken on line 3,517 (the
    fourth raw partition of 1,000 rows on the Dask engine)."""
    repo = clone_workspace(base, base.parent / "california")
    lines = shared_csv("california_housing.csv").read_text().splitlines()[:5001]
    fields = lines[3516].split(",")
    fields[2] = "forty-one"  # housing_median_age
    lines[3516] = ",".join(fields)
    write_california(repo, lines)
    return repo


def write_california(repo: Path, lines: list[str]) -> None:
    source = repo / "data" / "external" / "california" / "california_housing.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("\n".join(lines) + "\n")
    set_params(repo, dataset="california", **{"dask.partition_rows": 1000})


def test_partitions_clean_split_and_fit_as_one_frame(base: Path) -> None:
    """5,000 California rows and 40 copies of rows of the first 1,000-row partition placed in
    the last ones: six raw partitions on the Dask engine. The copies are dropped across
    partitions, and the report, both splits and the transformer's figures are the pandas
    engine's."""
    lines = shared_csv("california_housing.csv").read_text().splitlines()[:5001]
    lines += lines[100:140]  # duplicates of lines 101-140, as lines 5,002-5,041
    runs = {}
    for engine in ("pandas", "dask"):
        repo = clone_workspace(base, base.parent / f"california-{engine}")
        write_california(repo, lines)
        set_params(repo, engine=engine)
        run(["dvc", "repro", "featurize"], cwd=repo, timeout=600)
        runs[engine] = repo
    partitions = partition_files(runs["dask"] / "data" / "raw" / "partitions")
    assert len(partitions) == 6
    report = read_json(runs["pandas"] / "reports" / "process.json")
    assert report["dropped"]["duplicates"] == 40
    assert read_json(runs["dask"] / "reports" / "process.json") == report
    for split in SPLITS:
        expected, got = (
            read_table(runs[engine] / "data" / "processed" / f"{split}.parquet") for engine in runs
        )
        assert len(partition_files(runs["dask"] / "data" / "processed" / f"{split}.parquet")) > 1
        pd.testing.assert_frame_equal(sorted_rows(got), sorted_rows(expected))
    fitted = [load_transformer(repo / "artifacts" / "transformer.joblib") for repo in runs.values()]
    for name in ("numeric", "category"):
        steps = [fit.column_transformer_.named_transformers_[name] for fit in fitted]
        if name == "category":
            steps = [step["impute"] for step in steps]
        assert list(steps[0].statistics_) == list(steps[1].statistics_)


def error_line(repo: Path, engine: str) -> str:
    set_params(repo, engine=engine)
    result = run(["dvc", "repro", "process"], cwd=repo, check=False, timeout=600)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("process: error")]
    return line


def test_a_broken_partition_gives_the_pandas_engines_error(california: Path) -> None:
    pandas_line = error_line(california, "pandas")
    dask_line = error_line(california, "dask")
    assert (california / "data" / "raw" / "partitions" / "part-00003.parquet").is_file()
    expected = (
        "column 'housing_median_age' should be float but has 1 non-numeric value(s), "
        "e.g. 'forty-one' (line 3517)"
    )
    assert pandas_line.startswith("process: error: data/raw/data.csv: " + expected)
    source = "data/external/california/california_housing.csv"
    assert dask_line == pandas_line.replace("data/raw/data.csv", source)


def test_an_unreadable_partition_is_named(california: Path, tmp_path: Path) -> None:
    repo = clone_workspace(california, tmp_path / "repo")
    set_params(repo, engine="dask")
    run(["dvc", "repro", "ingest"], cwd=repo, timeout=600)
    partition = repo / "data" / "raw" / "partitions" / "part-00002.parquet"
    partition.write_bytes(partition.read_bytes()[:100])
    result = run(
        ["python", "stages/process.py", "--raw", "data/raw", "--train", "t", "--test", "u",
         "--manifest", "m.json", "--report", "r.json"],
        cwd=repo, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "process: error: data/raw/partitions/part-00002.parquet: not a readable Parquet partition ("
    )
    assert not (repo / "t").exists()


def test_an_unreachable_scheduler_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DASK_SCHEDULER_ADDRESS naming no scheduler: ClusterError (one line, what to do), within
    the bound (here 2 s instead of 30), not a hang or a traceback."""
    from servers import free_port

    from house_price.engines import cluster

    monkeypatch.setenv(SCHEDULER_ADDRESS, f"tcp://127.0.0.1:{free_port()}")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    settings = load_params(REPO / "params.yaml").dask
    with pytest.raises(cluster.ClusterError) as raised, cluster.connect(settings):
        pass
    message = str(raised.value)
    assert message.startswith(f"{SCHEDULER_ADDRESS}=tcp://127.0.0.1:")
    assert "no Dask scheduler answered within 2 s" in message
    assert "\n" not in message


def test_a_bucket_with_no_test_rows_writes_no_empty_partition(tmp_path: Path) -> None:
    """Small data in many buckets: a side with no rows gets no partition (an empty one would
    reach the transformer, which refuses 0 rows)."""
    from house_price.core import split
    from house_price.engines import process

    lines = np.arange(2, 12)
    bucket = tmp_path / "bucket.parquet"
    pd.DataFrame({"x": np.arange(10.0)}, index=pd.Index(lines, name="line")).to_parquet(bucket)
    keys = split.split_keys(lines, 42)
    train, test = (tmp_path / side / "part.parquet" for side in ("train", "test"))
    for threshold, sides in ((keys.max(), [test]), (keys.min() - np.uint64(1), [train])):
        for path in (train, test):
            path.parent.mkdir(exist_ok=True)
            path.unlink(missing_ok=True)
        process._write_split(bucket, 42, threshold, train, test)
        assert [path for path in (train, test) if path.exists()] == sides
        assert len(pd.read_parquet(sides[0])) == 10
