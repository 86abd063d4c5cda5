"""`house-price profile init`, the real console script: on small CSVs, on the real data sets
(skipped where ../shared/data is absent) and, for the seed CSV, the whole pipeline on the draft.
The classification rules themselves are unit-tested on small frames in
tests/unit/drafting/test_drafting.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, git_copy, run, shared_csv

from house_price.core.errors import DataError, escaped
from house_price.core.split import check_split_rows, rows_needed, split_sizes
from house_price.data.cleaning import clean
from house_price.drafting.rules import (
    DEFAULT_CV_FOLDS,
    DEFAULT_PARAMS_ROWS,
    DEFAULT_TEST_SIZE,
    MIN_ROWS,
)
from house_price.schema import load_profile
from house_price.training.model import fold_splits


def base_frame(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sqft = rng.integers(800, 4000, rows)
    return pd.DataFrame(
        {
            "price": (sqft * 200 + rng.normal(0, 150_000, rows)).round(-3).clip(50_000),
            "sqft": sqft,
            "bedrooms": rng.integers(1, 6, rows),
        }
    )


HOUSE_PRICE = Path(sys.executable).parent / "house-price"


def init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOUSE_PRICE), "profile", "init", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("house-price: error: ")
    return lines[0]


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    assert "file not found" in one_error_line(init(tmp_path, "nope.csv", "--target", "price"))
    (tmp_path / "empty.csv").write_text("")
    assert "file is empty" in one_error_line(init(tmp_path, "empty.csv", "--target", "price"))
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert "image.csv: not a" in one_error_line(init(tmp_path, "image.csv", "--target", "a"))
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5,6\n")
    assert "not a valid CSV" in one_error_line(init(tmp_path, "ragged.csv", "--target", "a"))
    (tmp_path / "semi.csv").write_text('zip;sqft;price\n01002;"1\n200";3e5\n02134;9,5;2e5\n')
    assert "semi.csv: not a comma-separated CSV: it looks delimited by semicolons (';')" in (
        one_error_line(init(tmp_path, "semi.csv", "--target", "price"))
    )
    (tmp_path / "header.csv").write_text("a,b\n")
    assert "no data rows" in one_error_line(init(tmp_path, "header.csv", "--target", "a"))
    (tmp_path / "twice.csv").write_text("a,b, a\n1,2,3\n")  # repeated once trimmed
    assert "twice.csv: column 'a' appears 2 times in the header (columns 1, 3)" in (
        one_error_line(init(tmp_path, "twice.csv", "--target", "b"))
    )
    wide = ",".join(f"c{i}" for i in range(15)) + ",price\n" + ",".join(["1"] * 16) + "\n"
    (tmp_path / "wide.csv").write_text(wide)
    line = one_error_line(init(tmp_path, "wide.csv", "--target", "prise"))
    assert "--target 'prise' is not a column; did you mean 'price'?" in line
    assert "columns: c0, c1" in line
    assert "and 4 more" in line
    usage = init(tmp_path, "wide.csv")  # no --target: a usage error
    assert usage.returncode == 2
    assert "--target" in usage.stderr
    assert "Traceback" not in usage.stderr
    assert not (tmp_path / "profiles").exists()


def test_cli_refuses_a_header_name_with_a_line_break_in_one_line(tmp_path: Path) -> None:
    """Issue 25: a newline inside a quoted header was drafted into YAML that did not parse, and
    split the --target error over two lines. Each such name is refused, escaped, in one line."""
    frame = base_frame()
    for name in ("sale\nprice", "sale\r\nprice", "sale\u2028price", "sale\x85price"):
        frame.rename(columns={"bedrooms": name}).to_csv(tmp_path / "wrapped.csv", index=False)
        line = one_error_line(init(tmp_path, "wrapped.csv", "--target", "price", "--force"))
        assert line == (
            f"house-price: error: wrapped.csv: column 3 of the header, {name!r}: a control "
            f"character ({name[4]!r}) in a name: rename the column, in the CSV's header too"
        )
        typo = one_error_line(init(tmp_path, "wrapped.csv", "--target", "prise"))
        assert typo.endswith(f"columns: price, sqft, {escaped(name)}")
    assert not (tmp_path / "profiles").exists()


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    frame = base_frame()
    frame.to_csv(tmp_path / "My Houses.csv", index=False)
    first = init(tmp_path, "My Houses.csv", "--target", "price")
    assert first.returncode == 0, first.stderr
    output = tmp_path / "profiles" / "my_houses.yaml"
    draft = yaml.safe_load(output.read_text())
    assert draft["name"] == "my_houses"
    assert draft["source"] == "data/external/my_houses/My Houses.csv"
    assert "copy My Houses.csv to data/external/my_houses/My Houses.csv" in first.stderr
    output.write_text("edited\n")
    again = init(tmp_path, "My Houses.csv", "--target", "price")
    assert "exists: use --force" in one_error_line(again)
    assert output.read_text() == "edited\n"
    forced = init(tmp_path, "My Houses.csv", "--target", "price", "--force")
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load(output.read_text()) == draft
    assert [path.name for path in output.parent.iterdir()] == ["my_houses.yaml"]  # no temp left
    bad_name = init(tmp_path, "My Houses.csv", "--target", "price", "--name", "../x")
    assert bad_name.returncode == 2


def test_cli_output_dash_is_stdout(tmp_path: Path) -> None:
    """`--output -` wrote a file named `-`; it is stdout, as for `house-price predict`: the
    draft alone on stdout (messages on stderr), the same draft as the file; `./-` is a file."""
    frame = base_frame()
    frame.to_csv(tmp_path / "houses.csv", index=False)
    to_file = init(tmp_path, "houses.csv", "--target", "price", "--output", "draft.yaml")
    assert to_file.returncode == 0, to_file.stderr
    piped = init(tmp_path, "houses.csv", "--target", "price", "--output", "-")
    assert piped.returncode == 0, piped.stderr
    written = (tmp_path / "draft.yaml").read_text()
    # identical but for the command line each records in its header comment
    assert piped.stdout == written.replace("--output draft.yaml", "--output -")
    assert "house-price: wrote the draft to stdout: a DRAFT from" in piped.stderr
    assert not (tmp_path / "-").exists()
    dotted = init(tmp_path, "houses.csv", "--target", "price", "--output", "./-")
    assert (dotted.returncode, dotted.stdout) == (0, "")
    assert (tmp_path / "-").read_text() == written.replace("--output draft.yaml", "--output ./-")


def test_cli_seed_csv(tmp_path: Path) -> None:
    """The 84-row seed CSV (blank first line) from data/external/seed/: name and source follow
    the folder; the draft loads as written."""
    csv = tmp_path / "data" / "external" / "seed" / "seed_house_data.csv"
    csv.parent.mkdir(parents=True)
    shutil.copyfile(shared_csv("seed_house_data.csv"), csv)
    result = init(tmp_path, "data/external/seed/seed_house_data.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    output = tmp_path / "profiles" / "seed.yaml"
    text = output.read_text()
    header = "# Draft profile made by: house-price profile init "
    header += "data/external/seed/seed_house_data.csv --target price\n"
    assert text.startswith(header)
    assert "84 rows, 7 columns" in text
    assert "REVIEW BEFORE USE" in text
    draft = yaml.safe_load(text)
    assert draft["source"] == "data/external/seed/seed_house_data.csv"
    assert "copy " not in result.stderr  # already in place
    assert "dvc exp run -S dataset=seed" in result.stderr
    kinds = {feature["name"]: feature["type"] for feature in draft["features"]}
    assert kinds == {
        "sqft": "int",
        "bedrooms": "int",
        "bathrooms": "float",
        "location": "category",
        "year_built": "int",
        "condition": "category",
    }
    location = next(feature for feature in draft["features"] if feature["name"] == "location")
    assert sorted(location["categories"]) == [
        "Downtown", "Mountain", "Rural", "Suburb", "Urban", "Waterfront"
    ]  # fmt: skip
    assert draft["derived"] == [{"name": "house_age", "op": "age", "inputs": ["year_built"]}]
    assert draft["target"]["min"] == 100_000
    # sqft ranks the 84 rows like price (|Spearman| 0.98): flagged, kept, for the user to judge
    assert "sqft: WARNING: probable leak?" in result.stderr
    profile = load_profile(output, reference_year=2025)
    assert profile.target.minimum == 100_000
    assert profile.feature("year_built").maximum == 2025


def test_cli_kingcounty(tmp_path: Path) -> None:
    """A date column with the file's format, its derived features, an id left out, a code as
    text categories; the draft loads as written."""
    csv = shared_csv("kc_house_data.csv")
    result = init(tmp_path, str(csv), "--target", "price", "--name", "kc")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "profiles" / "kc.yaml").read_text()
    draft = yaml.safe_load(text)
    assert draft["source"] == "data/external/kc/kc_house_data.csv"
    features = {feature["name"]: feature for feature in draft["features"]}
    assert "id" not in features
    assert "  # id: an identifier, not a feature: 21436 distinct values in 21613 rows" in text
    assert features["date"] == {
        "name": "date",
        "type": "date",
        "format": "%Y%m%dT%H%M%S",
        "min": "2014-01-01",
        "max": "2015-12-31",
        "example": "2014-10-16",
    }
    zipcode = features["zipcode"]
    assert zipcode["type"] == "category"
    shipped = yaml.safe_load(
        (Path(__file__).parents[2] / "profiles" / "kingcounty.yaml").read_text()
    )
    shipped_zip = next(f for f in shipped["features"] if f["name"] == "zipcode")
    assert zipcode["categories"] == shipped_zip["categories"]  # '98001', ... as strings
    assert "      - '98001'  # 362 rows" in text
    for name in ("bedrooms", "view", "condition", "grade", "yr_built", "waterfront"):
        assert features[name]["type"] == "int", name
    assert (features["waterfront"]["min"], features["waterfront"]["max"]) == (0, 1)
    assert features["lat"]["type"] == "float"
    assert draft["derived"] == [
        {"name": "date_year", "op": "year", "inputs": ["date"]},
        {"name": "date_month", "op": "month", "inputs": ["date"]},
        {"name": "house_age", "op": "age", "inputs": ["yr_built", "date"]},
    ]
    assert "WARNING" not in result.stderr
    profile = load_profile(tmp_path / "profiles" / "kc.yaml", reference_year=2025)
    assert profile.feature("date").date_format == "%Y%m%dT%H%M%S"
    assert [item.op for item in profile.derived] == ["year", "month", "age"]


def test_cli_california(tmp_path: Path) -> None:
    """Categories with odd spellings, a nullable column; the draft loads as written."""
    csv = shared_csv("california_housing.csv")
    output = tmp_path / "out" / "ca.yaml"
    result = init(tmp_path, str(csv), "--target", "median_house_value", "--output", str(output))
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    draft = yaml.safe_load(text)
    assert draft["name"] == "california_housing"
    features = {feature["name"]: feature for feature in draft["features"]}
    ocean = features["ocean_proximity"]
    assert ocean["categories"] == ["<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"]
    assert ocean["example"] == "<1H OCEAN"
    assert "      - ISLAND       # 5 rows" in text
    assert features["total_bedrooms"]["nullable"] is True
    assert "# 207 empty values (1.0 %): nullable" in text
    assert sum("nullable" in feature for feature in features.values()) == 1
    assert features["median_income"]["type"] == "float"
    assert draft["target"] == {"name": "median_house_value", "min": 0, "max": 550_000}
    profile = load_profile(output, reference_year=2025)
    assert len(profile.features) == 9
    assert profile.feature("total_bedrooms").nullable


@pytest.mark.slow
def test_seed_draft_runs_the_pipeline(tmp_path: Path) -> None:
    """The walkthrough of docs/own-data.md in a git copy: CSV in data/external/seed/,
    `profile init`, then `dvc exp run -S dataset=seed`."""
    source = shared_csv("seed_house_data.csv")
    repo = git_copy(tmp_path / "repo")
    csv = repo / "data" / "external" / "seed" / "seed_house_data.csv"
    csv.parent.mkdir(parents=True)
    shutil.copyfile(source, csv)
    result = init(repo, "data/external/seed/seed_house_data.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    run(["git", "add", "profiles/seed.yaml"], cwd=repo)
    run(["git", "commit", "-qm", "seed profile"], cwd=repo)
    # As docs/own-data.md says: on 84 rows the default gate finds a linear model better than the
    # trees.
    stopped = run(["dvc", "exp", "run", "-S", "dataset=seed"], cwd=repo, timeout=900, check=False)
    assert stopped.returncode != 0
    (gate,) = [line for line in stopped.stderr.splitlines() if line.startswith("evaluate: error")]
    assert re.fullmatch(
        r"evaluate: error: quality gate failed: rmse \S+ does not beat the linear baseline's \S+",
        gate,
    ), gate
    quoted = " ".join((REPO / "docs" / "own-data.md").read_text().split())
    assert f"`{gate}`" in quoted, f"docs/own-data.md quotes another gate line than {gate!r}"
    assert "Running stage 'package'" not in stopped.stdout
    run(["git", "checkout", "params.yaml"], cwd=repo)
    done = run(
        ["dvc", "exp", "run", "-S", "dataset=seed", "-S", "evaluate.must_beat=[median]"],
        cwd=repo,
        timeout=900,
    )
    for stage in ("evaluate", "package"):
        assert f"Running stage '{stage}'" in done.stdout
    assert "registered as house-price-seed v1" in done.stdout
    report = yaml.safe_load((repo / "reports" / "process.json").read_text())
    assert report["rows_in"] == 84
    assert report["rows_out"] == 84  # the draft's bounds keep every row
    metadata = yaml.safe_load((repo / "models" / "house-price" / "metadata.json").read_text())
    assert metadata["dataset"] == "seed"
    print("seed draft:", " ".join((repo / "metrics.json").read_text().split()))


def test_a_text_value_in_the_target_is_named_with_its_line(tmp_path: Path) -> None:
    """The line was not named: `1 value such as 'abc'` in a 21,613-row file."""
    frame = base_frame().astype({"price": str})
    frame.loc[17, "price"] = "abc"  # file line 19: the header is line 1
    frame.loc[30, "price"] = "n/a?"
    frame.to_csv(tmp_path / "houses.csv", index=False)
    line = one_error_line(init(tmp_path, "houses.csv", "--target", "price"))
    assert line == (
        "house-price: error: houses.csv: target column 'price' is not a number column: 2 values "
        "not a number, e.g. 'abc' (line 19); a spelling that means missing belongs in the "
        "profile's missing_values"
    )


def test_a_non_finite_target_is_counted_as_the_pipeline_drops_it(tmp_path: Path) -> None:
    """`inf` in the target ended in an IndexError traceback; the pipeline reads it as a number
    and drops its row (non_finite_price)."""
    frame = base_frame().astype({"price": str})
    frame.loc[4, "price"] = "inf"  # line 6
    frame.loc[9, "price"] = "1e400"
    frame.to_csv(tmp_path / "houses.csv", index=False)
    result = init(tmp_path, "houses.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "profiles" / "houses.yaml").read_text()
    assert "# 2 non-finite values, e.g. 'inf' (line 6): the pipeline drops such rows" in text
    profile = load_profile(tmp_path / "profiles" / "houses.yaml", 2025)
    finite = frame["price"].drop([4, 9]).astype(float)
    assert profile.target.maximum >= finite.max()
    rows, report = clean(frame.astype(str), profile, "houses.csv")
    assert report["dropped"]["non_finite_price"] == 2
    assert len(rows) == len(frame) - 2


def test_a_constant_feature_gets_a_warning(tmp_path: Path) -> None:
    """No word on a column with one value: the model learns nothing from it, and its draft
    bounds (6 to 8) or its one category refuse every other value the API is sent."""
    frame = base_frame()
    frame["stories"] = 7
    frame["city"] = "Seattle"
    frame.loc[3, "city"] = ""  # missing: still one value where there is one
    frame["sold"] = "2014-10-13"
    frame.to_csv(tmp_path / "houses.csv", index=False)
    result = init(tmp_path, "houses.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "the same value" in line]
    assert warnings == [
        "house-price: stories: WARNING: the same value (7) in every row: the model cannot learn "
        "from it, and its bounds (6 to 8) refuse values outside them. Leave it out, or widen the "
        "bounds if other values can occur",
        "house-price: city: WARNING: the same value (Seattle) in every row: the model cannot "
        "learn from it, and any other value is refused as an unknown category. Leave it out, or "
        "add the categories that can occur",
        "house-price: sold: WARNING: the same value (2014-10-13) in every row: the model cannot "
        "learn from it, and its bounds (2014-01-01 to 2014-12-31) refuse values outside them. "
        "Leave it out, or widen the bounds if other values can occur",
    ]
    text = (tmp_path / "profiles" / "houses.yaml").read_text()
    assert text.count("# WARNING: the same value") == 3
    draft = yaml.safe_load(text)
    assert [f["name"] for f in draft["features"]] == ["sqft", "bedrooms", "stories", "city", "sold"]


@pytest.mark.parametrize("rows", [1, 2, 6])
def test_too_few_rows_are_refused(tmp_path: Path, rows: int) -> None:
    """A 1-row CSV gave a draft (bounds from one value); the pipeline refuses it later."""
    base_frame(rows).to_csv(tmp_path / "few.csv", index=False)
    line = one_error_line(init(tmp_path, "few.csv", "--target", "price"))
    assert line == (
        f"house-price: error: few.csv: target column 'price' has {rows} row"
        f"{'s' if rows > 1 else ''} with a value the pipeline keeps (a finite number, 0 or "
        "more); it needs at least 7 whatever the params (5 to train, 2 to test), and the "
        "default params 13"
    )
    assert not (tmp_path / "profiles").exists()


def test_seven_rows_are_the_floor_whatever_the_params(tmp_path: Path) -> None:
    assert rows_needed(0.2) == MIN_ROWS
    assert all(rows_needed(size) >= MIN_ROWS for size in (0.01, 0.1, 0.2, 0.3, 0.5, 0.9))
    frame = base_frame(MIN_ROWS)
    frame.loc[MIN_ROWS] = ["", 2000, 3]  # no target: not counted
    frame.to_csv(tmp_path / "seven.csv", index=False)
    assert init(tmp_path, "seven.csv", "--target", "price").returncode == 0
    frame.loc[0, "price"] = -1  # dropped by the pipeline: 6 rows left
    frame.to_csv(tmp_path / "seven.csv", index=False)
    assert "has 6 rows with a value the pipeline keeps" in one_error_line(
        init(tmp_path, "seven.csv", "--target", "price", "--force")
    )


def test_the_default_params_need_13_rows(tmp_path: Path) -> None:
    """7 rows is the floor at any test_size, but the default train.cv_folds (5: 2 train rows a
    fold) and process.test_size need more: a draft from fewer passed without a word."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["process"]["test_size"] == DEFAULT_TEST_SIZE
    assert params["train"]["cv_folds"] == DEFAULT_CV_FOLDS
    assert DEFAULT_PARAMS_ROWS == 13
    for rows in (DEFAULT_PARAMS_ROWS - 1, DEFAULT_PARAMS_ROWS):  # the pipeline's own checks
        check_split_rows(rows, DEFAULT_TEST_SIZE, "t")
        train = split_sizes(rows, DEFAULT_TEST_SIZE)[0]
        if rows < DEFAULT_PARAMS_ROWS:
            with pytest.raises(DataError, match="cv_folds"):
                fold_splits(train, DEFAULT_CV_FOLDS, 42)
        else:
            assert len(fold_splits(train, DEFAULT_CV_FOLDS, 42)) == DEFAULT_CV_FOLDS
    warning = (
        "WARNING: 12 rows with a value the pipeline keeps (a finite number, 0 or more): the "
        "default params need at least 13 (train.cv_folds 5 needs 10 train rows, 2 a fold, and "
        "process.test_size 0.2 leaves 10 of 13 to train): add rows, or lower train.cv_folds or "
        "process.test_size in params.yaml"
    )
    base_frame(12).to_csv(tmp_path / "few.csv", index=False)
    result = init(tmp_path, "few.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    assert f"house-price: price: {warning}" in result.stderr.splitlines()
    lines = (tmp_path / "profiles" / "few.yaml").read_text().splitlines()
    assert warning in " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))
    base_frame(13).to_csv(tmp_path / "few.csv", index=False)
    result = init(tmp_path, "few.csv", "--target", "price", "--force")
    assert result.returncode == 0, result.stderr
    assert "default params" not in result.stderr
    assert "default params" not in (tmp_path / "profiles" / "few.yaml").read_text()
