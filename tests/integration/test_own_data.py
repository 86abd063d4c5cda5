"""A user's own data through the real pipeline (`dvc exp run` / `dvc repro` in a temporary git
copy), as issue 8 reproduces it: odd but valid input gives the right values in the processed
data and the right predictions from the API; bad input stops with one line naming the file, the
column and the problem, leaves nothing half-written, and the last good outputs come back with
`dvc checkout`. Unit-level variants of each kind are in tests/unit/data/test_own_data_rules.py."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from api_support import (
    PARITY_RTOL,
    post_json,
    relative_difference,
    request_rows,
    start_api,
    stop_api,
)
from conftest import assert_one_line_error, clean_env, lock_outs, run, set_params
from test_bad_input import assert_nothing_half_written, assert_restorable

from house_price.serving.bundle import load_bundle

pytestmark = pytest.mark.slow

OWN_CSV = "data/external/mydata/mydata.csv"
BASEMENTS = ["None", "Partial", "Full"]

# Added to the default profile's features, written as a user would (unquoted yes/no, None).
EXTRA_FEATURES = """\
- name: basement
  type: category
  categories: [None, Partial, Full]  # a real category spelled like pandas' missing value
  example: None
- {name: garage, type: category, categories: [yes, no], example: yes}
- name: sold
  type: date
  format: '%d/%m/%Y'
  min: 2014-01-01
  max: 2015-12-31
  nullable: true
  example: 2014-10-13
"""
EXTRA_DERIVED = """\
- {name: sold_month, op: month, inputs: [sold]}
- {name: age_at_sale, op: age, inputs: [year_built, sold]}
"""


def raw_text(repo: Path) -> pd.DataFrame:
    return pd.read_csv(repo / "data" / "raw" / "data.csv", dtype=str, keep_default_na=False)


def write_own_data(repo: Path, content: bytes, profile_text: str) -> None:
    """What docs/own-data.md tells a user to do: the CSV in its folder, a profile naming it."""
    (repo / OWN_CSV).parent.mkdir(parents=True, exist_ok=True)
    (repo / OWN_CSV).write_bytes(content)
    (repo / "profiles" / "mydata.yaml").write_text(profile_text)


def default_profile(**changes: Any) -> dict[str, Any]:
    spec = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "houses.yaml").read_text())
    spec.update(name="mydata", source=OWN_CSV, **changes)
    return spec


def odd_but_valid(repo: Path) -> tuple[bytes, str]:
    """The default raw data as a real export might have it: a byte-order mark, a padded header
    name, categories spelled None/yes/no, declared missing spellings, a d/m/Y sale date, and
    non-finite numbers that must be dropped and counted."""
    frame = raw_text(repo).rename(columns={"sqft": "LOT SQFT "})
    rng = np.random.default_rng(8)
    rows = len(frame)
    frame["basement"] = rng.choice(BASEMENTS, rows)
    frame["garage"] = rng.choice(["yes", "no"], rows)
    days = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    frame["sold"] = days.strftime("%d/%m/%Y")
    frame.loc[frame.index[::97], "sold"] = ""
    frame.loc[frame.index[5:45], "bathrooms"] = "NA"
    # Non-finite values in rows that are otherwise clean, so that nothing else drops them.
    numbers = frame[["price", "LOT SQFT ", "bedrooms", "year_built"]].apply(pd.to_numeric)
    clean = (
        numbers.notna().all(axis=1)
        & numbers["LOT SQFT "].between(100, 30000)
        & (numbers["year_built"] <= 2025)
        & frame["location"].isin(["Urban", "Suburb", "Rural", "Downtown"])
        & frame["condition"].isin(["Good", "Fair"])
    )
    rows_to_break = frame.index[clean][100:105]
    frame.loc[rows_to_break[:3], "price"] = ["inf", "Infinity", "1e400"]
    frame.loc[rows_to_break[3:], "LOT SQFT "] = ["-inf", "NaN"]
    content = b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\n").encode()

    spec = default_profile(missing_values=["", "NA", "None"])
    spec["features"][0]["name"] = "LOT SQFT "  # exactly as the file's header reads
    spec["target"]["per"] = "LOT SQFT "  # the price per unit of it: trimmed alike
    text = yaml.safe_dump(spec, sort_keys=False)
    text = text.replace("derived:\n", EXTRA_FEATURES + "derived:\n") + EXTRA_DERIVED
    return content, text


def test_odd_but_valid_csv_gives_the_right_values_and_predictions(
    workspace: Path, tmp_path: Path
) -> None:
    content, profile_text = odd_but_valid(workspace)
    write_own_data(workspace, content, profile_text)
    result = run(["dvc", "exp", "run", "-S", "dataset=mydata"], cwd=workspace, timeout=900)
    for stage in ("ingest", "process", "featurize", "train", "evaluate", "package"):
        assert f"Running stage '{stage}'" in result.stdout

    report = json.loads((workspace / "reports" / "process.json").read_text())
    assert report["dropped"]["non_finite_price"] == 3
    assert report["dropped"]["non_finite_LOT SQFT"] == 2
    assert report["dropped"]["unknown_basement"] == report["dropped"]["unknown_garage"] == 0
    processed = pd.concat(
        [
            pd.read_parquet(workspace / "data" / "processed" / f"{split}.parquet")
            for split in ("train", "test")
        ]
    )
    assert "LOT SQFT" in processed.columns
    # None is a category here, never a missing value: every row keeps one of the three.
    assert processed["basement"].notna().all()
    assert set(processed["basement"]) == set(BASEMENTS)
    assert set(processed["garage"]) == {"yes", "no"}
    assert report["missing_values_kept"]["bathrooms"] == processed["bathrooms"].isna().sum() >= 35
    assert 40 <= processed["sold"].isna().sum() <= 60  # every 97th left empty: imputed
    assert processed["sold"].dropna().between("2014-01-01", "2015-12-31").all()
    assert np.isfinite(processed[["price", "LOT SQFT"]].to_numpy(float)).all()

    # The API gives every evaluated row the evaluate stage's prediction.
    bundle = load_bundle(workspace / "models" / "house-price")
    test = pd.read_parquet(workspace / "data" / "processed" / "test.parquet")
    expected = pd.read_parquet(workspace / "artifacts" / "test_predictions.parquet")["prediction"]
    api = start_api(workspace / "models" / "house-price", tmp_path / "uvicorn.log")
    try:
        rows = request_rows(test, bundle.profile)
        reply = post_json(api.url, "/predict/batch", {"rows": rows})
        assert reply.status == 200, reply.text
        predicted = np.array(reply.json()["predictions"])
        difference = relative_difference(predicted, expected.to_numpy())
        print(
            f"\nown odd data: API vs evaluate on {len(rows)} rows, max rel. diff {difference:.1e}"
        )
        assert difference <= PARITY_RTOL
        none_row = next(row for row in rows if row["basement"] == "None")
        spellings = [post_json(api.url, "/predict", {**none_row, "basement": spelling})
                     for spelling in ("None", " none ", "NONE")]  # fmt: skip
        assert len({reply.json()["prediction"] for reply in spellings}) == 1
        undated = post_json(api.url, "/predict", {**none_row, "sold": None}).json()
        omitted = {key: value for key, value in none_row.items() if key != "sold"}
        assert post_json(api.url, "/predict", omitted).json() == undated
    finally:
        stop_api(api)


# --- bad input through the pipeline: one line, nothing half-written, restorable ------------------


def header_with(repo: Path, extra: str, value: str) -> bytes:
    lines = (repo / "data" / "raw" / "data.csv").read_text().splitlines()
    lines = [lines[0] + extra] + [line + "," + value for line in lines[1:]]
    return ("\n".join(lines) + "\n").encode()


def blank_column(repo: Path, name: str) -> bytes:
    frame = raw_text(repo)
    frame[name] = ""
    return frame.to_csv(index=False, lineterminator="\n").encode()


def invalid_byte_deep_inside(repo: Path) -> bytes:
    lines = (repo / "data" / "raw" / "data.csv").read_bytes().split(b"\n")
    lines[4000] = lines[4000].replace(b",", b",\xe9", 1)  # a latin-1 é in line 4001
    return b"\n".join(lines)


def one_row(repo: Path) -> bytes:
    return b"\n".join((repo / "data" / "raw" / "data.csv").read_bytes().split(b"\n")[:2]) + b"\n"


# kind -> (CSV maker, failing stage, column named, the problem as a regex)
BAD_OWN_DATA = {
    "padded_repeat": (
        lambda repo: header_with(repo, ", sqft", "1500"),
        "ingest",
        "sqft",
        r"column 'sqft' appears 2 times in the header \(columns 2, 8\)",
    ),
    "target_twice": (
        lambda repo: header_with(repo, ",price", "1"),
        "ingest",
        "price",
        r"column 'price' appears 2 times in the header \(columns 1, 8\)",
    ),
    "blank_category": (
        lambda repo: blank_column(repo, "condition"),
        "process",
        "condition",
        r"column 'condition' has no values \(all 5025 rows are empty",
    ),
    "blank_number": (
        lambda repo: blank_column(repo, "sqft"),
        "process",
        "sqft",
        r"column 'sqft' has no values",
    ),
    "one_row": (
        one_row,
        "process",
        None,
        r"1 valid row\(s\) after cleaning; at least 7 are needed \(process\.test_size 0\.2",
    ),
    "invalid_utf8": (
        invalid_byte_deep_inside,
        "ingest",
        None,
        r"not a UTF-8 text CSV \(line 4001, byte \d+: invalid continuation byte\)",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_OWN_DATA))
def test_bad_own_data_is_refused_by_name(workspace: Path, kind: str) -> None:
    make, stage, column, problem = BAD_OWN_DATA[kind]
    lock_before = lock_outs(workspace)
    content = make(workspace)
    write_own_data(workspace, content, yaml.safe_dump(default_profile(), sort_keys=False))
    set_params(workspace, dataset="mydata")
    result = run(["dvc", "repro"], cwd=workspace, check=False)
    file = OWN_CSV if stage == "ingest" else "data/raw/data.csv"
    assert_one_line_error(result, stage, file, column, problem)
    assert_nothing_half_written(workspace, stage, lock_before)
    assert_restorable(workspace)


@pytest.mark.parametrize(
    ("example", "problem"),
    [
        ("yes", r"features\[1\] \(bedrooms\)\.example: 'yes' is not a finite number"),
        ("2.5", r"features\[1\] \(bedrooms\)\.example: 2\.5 is not a whole number"),
        ("99", r"features\[1\] \(bedrooms\)\.example: 99 is outside the bounds"),
    ],
)
def test_a_profile_example_the_api_would_refuse_stops_ingest(
    workspace: Path, example: str, problem: str
) -> None:
    lock_before = lock_outs(workspace)
    text = yaml.safe_dump(default_profile(), sort_keys=False).replace(
        "example: 3\n", f"example: {example}\n", 1
    )
    write_own_data(workspace, (workspace / "data" / "raw" / "data.csv").read_bytes(), text)
    set_params(workspace, dataset="mydata")
    result = run(["dvc", "repro"], cwd=workspace, check=False)
    assert_one_line_error(result, "ingest", "profiles/mydata.yaml", None, problem)
    assert_nothing_half_written(workspace, "ingest", lock_before)
    assert_restorable(workspace)


def registered_versions(tracking_uri: str, name: str) -> list[str]:
    url = f"{tracking_uri}/api/2.0/mlflow/model-versions/search?filter=name%3D%27{name}%27"
    with urllib.request.urlopen(url, timeout=30) as response:
        return sorted(item["version"] for item in json.load(response).get("model_versions", []))


def test_package_registers_nothing_the_api_would_not_serve(workspace: Path, mlflow_server) -> None:
    """package loads and self-checks the bundle as the API does, before it registers it."""
    before = registered_versions(mlflow_server.url, "house-price-houses")
    model = workspace / "artifacts" / "model.ubj"
    model.unlink()  # never write through a file that may share its inode with the DVC cache
    model.write_bytes(b"not a model")
    env = clean_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = run(["dvc", "repro", "-s", "package"], cwd=workspace, env=env, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("package: error:")]
    assert "unreadable bundle (XGBoostError" in line
    assert registered_versions(mlflow_server.url, "house-price-houses") == before
    assert list((workspace / "models").glob(".house-price.*")) == []  # no half-built bundle
    assert_restorable(workspace)
