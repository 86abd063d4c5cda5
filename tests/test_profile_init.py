"""`house-price profile init`: a draft profile from a CSV. Unit tests of the classification rules
on small frames, then the real console script on the real data sets (skipped where
../shared/data is absent) and, for the seed CSV, the whole pipeline on the draft. Every draft
loads with the project's own profile loader (house_price.schema.load_profile)."""

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

from house_price.core.errors import DataError
from house_price.core.split import check_split_rows, rows_needed, split_sizes
from house_price.core.yamlfile import load_yaml
from house_price.data.cleaning import clean
from house_price.drafting import Draft, draft_profile, render
from house_price.drafting.bounds import readable_bounds
from house_price.drafting.columns import draft_column
from house_price.drafting.render import yaml_scalar
from house_price.drafting.rules import (
    DEFAULT_CV_FOLDS,
    DEFAULT_PARAMS_ROWS,
    DEFAULT_TEST_SIZE,
    LEAK_OUT,
    LEAK_WARN,
    MIN_ROWS,
)
from house_price.schema import load_profile, profile_from_dict
from house_price.training.model import fold_splits

HOUSE_PRICE = Path(sys.executable).parent / "house-price"


def column(values: list[str], name: str = "x"):
    return draft_column(pd.Series(values, dtype=str), name)


def make_draft(frame: pd.DataFrame, target: str = "price") -> Draft:
    text = frame.astype(str).replace({"nan": ""})
    return draft_profile(text, target, name="t", source="data/external/t/t.csv", command="test")


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


# --- column kinds ---------------------------------------------------------------------------


def test_int_and_float() -> None:
    assert column(["3", "4.0", "2", " 5 "]).kind == "int"  # whole values, 4.0 included
    drafted = column(["1.5", "2", "2.25"])
    assert drafted.kind == "float"
    assert drafted.spec["example"] == 2


def test_ids_are_left_out_with_the_reason() -> None:
    ids = column([str(7129300520 + 17 * i) for i in range(30)], name="id")
    assert (ids.kind, ids.is_feature) == ("id", False)
    assert "identifier" in ids.left_out
    assert column([str(i) for i in range(1, 31)], name="n").kind == "id"  # a row number
    assert column([f"a{i:04x}-{i * 7}" for i in range(30)], name="ref").kind == "id"  # text
    # nearly unique numbers without an id-like name are data (prices, areas): kept
    assert column([str(1000 + 37 * i) for i in range(30)], name="sqft").kind == "int"


def test_dates_of_both_forms() -> None:
    iso = column(["2014-10-13", "2015-01-02", "2014-05-20"], name="sold")
    assert iso.spec == {
        "name": "sold",
        "type": "date",
        "format": "%Y-%m-%d",
        "min": "2014-01-01",
        "max": "2015-12-31",
        "example": "2014-10-13",
    }
    compact = column(["20141013T000000", "20150225T000000", "20140502T000000"], name="date")
    assert compact.spec["format"] == "%Y%m%dT%H%M%S"
    assert (compact.spec["min"], compact.spec["example"]) == ("2014-01-01", "2014-10-13")
    assert column(["20141013", "20150225"], name="sale_date").spec["format"] == "%Y%m%d"
    assert column(["20141013", "20150225"], name="amount").kind == "int"  # digits: no date
    ambiguous = column(["01/02/2014", "03/04/2014"], name="when")
    assert ambiguous.spec["format"] == "%d/%m/%Y"
    assert any("%m/%d/%Y" in comment for comment in ambiguous.comments)


def test_numeric_codes_are_categories_of_strings() -> None:
    zips = column(["98178", "98125", "98028", "98125", "98001"] * 4, name="zipcode")
    assert zips.kind == "category"
    assert zips.spec["categories"] == ["98001", "98028", "98125", "98178"]
    assert zips.spec["example"] == "98125"
    assert column(["02134", "10001", "02134"], name="area").kind == "category"  # leading zero
    assert column(["2", "3", "4", "3"], name="bedrooms").kind == "int"


def test_yes_no_and_other_yaml_words_stay_strings() -> None:
    words = ["yes", "no", "on", "off", "null", "None", "true", "1", "1.5", "~", "y", "<1H OCEAN"]
    drafted = column(words * 3, name="flag")
    assert drafted.kind == "category"
    text = "\n".join(f"- {yaml_scalar(word)}" for word in words)
    assert yaml.safe_load(text) == words
    assert yaml_scalar("Suburb") == "Suburb"
    assert yaml_scalar("yes") == "'yes'"
    assert yaml_scalar("%Y%m%d") == "'%Y%m%d'"
    assert yaml_scalar("2014-01-01") == "'2014-01-01'"


def test_messy_spellings_merge_into_the_most_frequent() -> None:
    values = ["Suburb"] * 5 + ["suburb "] * 3 + ["SUBURB"] + ["Urban"] * 2
    drafted = column(values, name="location")
    assert drafted.spec["categories"] == ["Suburb", "Urban"]
    assert drafted.spec["aliases"] == {"suburb ": "Suburb", "SUBURB": "Suburb"}
    assert drafted.category_counts == {"Suburb": 9, "Urban": 2}
    assert "would merge: 'suburb ' (3), 'SUBURB' (1) -> Suburb" in drafted.comments
    assert drafted.spec["example"] == "Suburb"


def test_missing_spellings_are_pointed_out_never_applied() -> None:
    drafted = column(["3", "NA", "4", "NA", "5", "", "2"], name="rooms")
    assert drafted.kind == "int"  # judged on the numbers
    assert drafted.spec["nullable"] is True  # the empty field
    assert any(
        comment.startswith("'NA' appears 2 times: add it to missing_values if it means missing")
        for comment in drafted.comments
    )
    assert "rooms: 'NA' appears 2 times" in drafted.notes[0]
    no_empty = column(["3", "N/A", "4"], name="rooms")
    assert "nullable" not in no_empty.spec  # N/A is not missing until the user says so
    text = column(["Good", "None", "Fair", "Good"], name="condition")
    assert "None" in text.spec["categories"]
    assert any("'None' appears 1 time" in comment for comment in text.comments)


def test_empty_column_is_left_out() -> None:
    drafted = column(["", " ", ""], name="notes")
    assert (drafted.kind, drafted.is_feature) == ("empty", False)
    assert "no values at all" in drafted.left_out
    only_na = column(["NA", "NA", ""], name="pool")
    assert (only_na.kind, only_na.is_feature) == ("empty", False)
    assert "only missing spellings ('NA' (2))" in only_na.left_out


def test_a_column_without_a_header_name_is_left_out() -> None:
    frame = base_frame()
    frame[""] = np.arange(len(frame)) % 7  # a trailing comma in the header, values below
    draft = make_draft(frame)
    assert "" not in [feature["name"] for feature in draft.profile["features"]]
    assert "1 column(s) without a header name: left out" in draft.notes


def test_bounds_have_a_readable_margin() -> None:
    assert readable_bounds(1350, 3850, whole=True) == (1100, 4100)
    assert readable_bounds(249_000, 1_680_000, whole=True) == (100_000, 1_900_000)
    assert readable_bounds(75_000, 7_700_000, whole=True) == (0, 8_500_000)  # not across 0
    assert readable_bounds(0, 1, whole=True) == (0, 1)  # a flag stays a flag
    assert readable_bounds(47.1559, 47.7776, whole=False) == (47.09, 47.84)
    assert readable_bounds(-124.35, -114.31, whole=False) == (-126, -113)
    assert readable_bounds(-3, -1, whole=True) == (-3, -1)


# --- the whole draft ------------------------------------------------------------------------


def test_leaks_are_flagged_and_the_surest_left_out(capsys: pytest.CaptureFixture) -> None:
    frame = base_frame(200)
    rng = np.random.default_rng(1)
    frame["tax"] = (frame["price"] * 1.01 + rng.normal(0, 1000, len(frame))).round(2)
    frame["assessed"] = frame["price"] + rng.normal(0, 50_000, len(frame)).round()
    draft = make_draft(frame)
    kinds = {column.name: column.kind for column in draft.columns}
    assert kinds["tax"] == "leak"
    assert "tax" not in [feature["name"] for feature in draft.profile["features"]]
    assert kinds["assessed"] == "int"  # between the two thresholds: kept, with a warning
    assessed = next(column for column in draft.columns if column.name == "assessed")
    assert assessed.comments[0].startswith("WARNING: probable leak?")
    assert any(note.startswith("tax: WARNING: probable leak") for note in draft.notes)
    text = render(draft)
    assert "  # WARNING: probable leak, left out" in text
    assert "  # - {name: tax, type: float" in text  # the line to add it back
    assert LEAK_WARN < LEAK_OUT


def test_derived_features_from_dates_and_year_built() -> None:
    frame = base_frame()
    frame["yr_built"] = np.arange(1950, 1950 + len(frame))
    frame["date"] = ["20141013T000000", "20150225T000000"] * (len(frame) // 2)
    draft = make_draft(frame)
    assert draft.profile["derived"] == [
        {"name": "date_year", "op": "year", "inputs": ["date"]},
        {"name": "date_month", "op": "month", "inputs": ["date"]},
        {"name": "house_age", "op": "age", "inputs": ["yr_built", "date"]},
    ]
    yr_built = next(f for f in draft.profile["features"] if f["name"] == "yr_built")
    assert yr_built["max"] == "reference_year"
    no_date = make_draft(frame.drop(columns="date"))
    assert no_date.profile["derived"] == [
        {"name": "house_age", "op": "age", "inputs": ["yr_built"]}
    ]


def test_rendered_yaml_is_the_profile_and_loads() -> None:
    frame = base_frame()
    frame["location"] = (["Suburb", "suburb ", "Urban", "yes", "<1H OCEAN"] * 8)[: len(frame)]
    frame["notes"] = ""
    frame["year_built"] = np.arange(1960, 1960 + len(frame))
    draft = make_draft(frame)
    text = render(draft)
    assert yaml.safe_load(text) == draft.profile
    assert text.startswith("# Draft profile made by: test\n")
    assert "REVIEW BEFORE USE" in text
    assert "  # notes: no values at all in 40 rows: left out" in text
    assert draft.profile["missing_values"] == [""]
    profile = profile_from_dict(load_yaml(text), reference_year=2025)
    assert profile.feature_names == ["sqft", "bedrooms", "location", "year_built"]
    assert profile.feature("location").normalise("SUBURB") == "Suburb"
    assert profile.feature("location").normalise("yes") == "yes"
    for feature in profile.features:  # every example is inside its own bounds
        if feature.kind == "category":
            assert feature.example in feature.categories
        else:
            assert feature.minimum <= feature.example <= feature.maximum


def test_target_must_be_a_number_column() -> None:
    frame = base_frame()
    frame["price"] = "expensive"
    with pytest.raises(DataError, match="target column 'price' is not a number column"):
        make_draft(frame)


# --- the console script ---------------------------------------------------------------------


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
        (Path(__file__).parents[1] / "profiles" / "kingcounty.yaml").read_text()
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


def test_a_target_below_zero_drafts_min_0_and_its_rows_are_dropped() -> None:
    frame = base_frame()
    frame.loc[:3, "price"] = [-5000, -5000, 0, 0]
    draft = make_draft(frame)
    assert draft.profile["target"]["min"] == 0
    assert "2 rows below 0: the pipeline drops them" in draft.target.comments
    profile = profile_from_dict(draft.profile, 2025)
    rows, report = clean(frame.astype(str), profile, "t.csv")
    assert report["dropped"]["out_of_bounds_price"] == 2
    assert len(rows) == len(frame) - 2
    assert (rows["price"] >= 0).all()


@pytest.mark.parametrize("largest", [-3, 0])
def test_a_target_with_no_value_above_0_is_refused(largest: int) -> None:
    """Drafting min 0 above a max of -3 would write a profile its own loader refuses; a max of
    0 one that keeps only free houses."""
    frame = base_frame()
    frame["price"] = -frame["price"]
    frame.loc[0, "price"] = largest
    with pytest.raises(DataError, match="target column 'price' has no value above 0"):
        make_draft(frame)


def test_a_target_with_no_finite_value_is_refused_as_such() -> None:
    """All `inf` was refused as "no value above 0: a price is positive"."""
    frame = base_frame(3).astype({"price": str})
    frame["price"] = ["inf", "-inf", "1e400"]
    frame.index += 2  # file lines, as io.read_raw_csv indexes them
    with pytest.raises(DataError) as raised:
        make_draft(frame)
    assert str(raised.value) == (
        "target column 'price' has no finite value (3 non-finite values, e.g. 'inf' (line 2))"
    )


# --- values the pipeline judges: text in the target, non-finite numbers, constants, few rows ---


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


def test_a_non_finite_feature_value_keeps_the_column_a_number() -> None:
    """One `inf` made a sqft column "an identifier or free text", left out."""
    drafted = column(["1850", "2100", "inf", "1640", " 2400 ", "-inf"] * 3, name="sqft")
    assert (drafted.kind, drafted.is_feature) == ("int", True)
    assert (drafted.spec["min"], drafted.spec["max"]) == (1560, 2480)  # finite data: 1640-2400
    assert "6 non-finite values, e.g. 'inf' (line 2): the pipeline drops such rows" in (
        drafted.comments
    )
    assert column(["inf", "nan"], name="x").kind == "empty"


def test_a_nan_spelling_in_a_number_column_is_said_to_drop_its_row() -> None:
    """`NaN` (a missing spelling) in a number column was said to make the pipeline reject the
    file; parsing.to_numbers reads it as a NaN number and drops its row (non_finite_<col>)."""
    frame = base_frame().astype(str)
    frame.loc[[2, 5], "sqft"] = "NaN"
    frame.loc[7, "sqft"] = " NAN "
    frame.loc[9, "price"] = "NaN"
    draft = make_draft(frame)
    (sqft,) = [c for c in draft.columns if c.name == "sqft"]
    assert (sqft.kind, sqft.is_feature) == ("int", True)
    for spelling, count in (("NaN", "2 times"), ("NAN", "1 time")):
        assert (
            f"{spelling!r} appears {count}: the pipeline reads it as NaN and drops the row; add "
            "it to missing_values and make the column nullable to impute it instead"
        ) in sqft.comments
    assert "rejects the file" not in " ".join(sqft.comments + draft.target.comments)
    assert draft.target.comments[-1] == (
        "'NaN' appears 1 time: the pipeline reads it as NaN and drops the row (in missing_values "
        "too: a row without a target is dropped)"
    )
    rows, report = clean(frame, profile_from_dict(draft.profile, 2025), "t.csv")
    assert report["dropped"]["non_finite_sqft"] == 3
    assert report["dropped"]["non_finite_price"] == 1
    assert len(rows) == len(frame) - 4
    # as the comment says: in missing_values (and nullable) a feature's NaN is imputed instead
    draft.profile["missing_values"] += ["NaN", "NAN"]
    next(f for f in draft.profile["features"] if f["name"] == "sqft")["nullable"] = True
    rows, report = clean(frame, profile_from_dict(draft.profile, 2025), "t.csv")
    assert report["dropped"]["non_finite_sqft"] == 0
    assert report["dropped"]["missing_target"] == 1  # the target's row: dropped either way
    assert report["missing_values_kept"]["sqft"] == 3
    assert len(rows) == len(frame) - 1
    # a column that is already nullable needs only missing_values
    frame.loc[11, "sqft"] = ""
    (sqft,) = [c for c in make_draft(frame).columns if c.name == "sqft"]
    assert (
        "'NaN' appears 2 times: the pipeline reads it as NaN and drops the row; add it to "
        "missing_values to impute it instead" in sqft.comments
    )


def test_mostly_numbers_with_text_names_the_first_line() -> None:
    drafted = column([*(str(n % 5 + 1) for n in range(19)), "about 3"], name="rooms")
    (note,) = drafted.notes
    assert "the others ('about 3' (1); the first on line 19) make it text" in note


def test_a_constant_feature_gets_a_warning(tmp_path: Path) -> None:
    """No word on a column with one value: the model learns nothing from it, and its draft
    bounds (7 to 7) or its one category refuse every other value the API is sent."""
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
        "from it, and its bounds (7 to 7) refuse values outside them. Leave it out, or widen the "
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


def test_one_value_with_others_missing_is_constant_but_two_values_are_not() -> None:
    assert column(["3", "", "3", " 3.0 "], name="floors").notes  # 3 and 3.0: one number
    assert not column(["3", "4", "3"], name="floors").notes
    assert not column(["a", "b", "a"], name="kind").notes
    (merged,) = column(["A", "a ", "A"], name="kind").notes  # spellings of one category
    assert merged.startswith("kind: WARNING: the same value (A) in every row")


def test_one_day_at_different_times_is_a_constant_date() -> None:
    """The pipeline reads dates as days (cleaning.parse_dates normalises them): two times of
    one day are one value, which the text count missed."""
    sold = column(["2014-10-13 08:00:00", "2014-10-13 17:00:00", "2014-10-13 08:00:00"], "sold")
    assert sold.kind == "date"
    (note,) = sold.notes
    assert note.startswith("sold: WARNING: the same value (2014-10-13) in every row")
    assert not column(["2014-10-13 08:00:00", "2014-10-14 08:00:00"], "sold").notes


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


def test_a_constant_target_is_refused() -> None:
    frame = base_frame()
    frame["price"] = 250_000
    frame.loc[0, "price"] = -5  # dropped by the pipeline
    with pytest.raises(
        DataError,
        match=r"target column 'price' has the same value \(250000\) in all 39 rows the pipeline "
        "keeps: there is nothing to learn",
    ):
        make_draft(frame)


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
