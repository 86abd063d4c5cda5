"""Issue 25, end to end: a CSV with zip codes whose leading zeros a spreadsheet stripped in some
rows, and sale dates in two formats (80 % ISO, 20 % mm/dd/yyyy), drafted by the real `house-price
profile init`, run through the real pipeline (`dvc exp run` in a git copy), then served: the
pipeline's predictions, the API's and batch scoring's (`house-price predict`) agree on every
row, `1002` is read as `01002` everywhere, and the drafted bounds take one bedroom more than the
data shows. The drafting rules themselves: tests/unit/drafting/test_codes_and_dates.py."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from api_support import PARITY_RTOL, post_json, relative_difference, start_api, stop_api
from conftest import git_copy, run

pytestmark = pytest.mark.slow

HOUSE_PRICE = Path(sys.executable).parent / "house-price"
CSV = "data/external/zips/zips.csv"
ZIPS = {"01002": 1.3, "01003": 1.1, "02134": 1.6, "02138": 1.8, "98001": 0.9, "98052": 1.4}
ROWS = 300


def own_csv() -> tuple[pd.DataFrame, list[str], list[dt.date]]:
    """The CSV's text columns, each row's zip code as it should be read, and its sale date."""
    rng = np.random.default_rng(25)
    codes = rng.choice(list(ZIPS), ROWS)
    written = [
        code.lstrip("0") if code[0] == "0" and i % 5 == 1 else code for i, code in enumerate(codes)
    ]
    dates = [
        dt.date(2014, 5, 1) + dt.timedelta(days=int(day)) for day in rng.integers(0, 365, ROWS)
    ]
    sqft = rng.integers(800, 4000, ROWS)
    bedrooms = rng.integers(1, 7, ROWS)
    factor = np.array([ZIPS[code] for code in codes])
    price = sqft * 180 * factor * (1 + 0.05 * (bedrooms - 3)) + rng.normal(0, 20_000, ROWS)
    frame = pd.DataFrame(
        {
            "zip": written,
            "sold": [
                day.strftime("%m/%d/%Y" if i % 5 == 0 else "%Y-%m-%d")
                for i, day in enumerate(dates)
            ],
            "sqft": sqft.astype(str),
            "bedrooms": bedrooms.astype(str),
            "price": price.round(-2).astype(int).astype(str),
        }
    )
    return frame, list(codes), dates


def test_codes_and_mixed_dates_from_the_draft_to_every_face(tmp_path: Path) -> None:
    repo = git_copy(tmp_path / "repo")
    frame, codes, dates = own_csv()
    (repo / CSV).parent.mkdir(parents=True)
    frame.to_csv(repo / CSV, index=False)
    drafted = run([str(HOUSE_PRICE), "profile", "init", CSV, "--target", "price"], cwd=repo)
    assert "zip: WARNING: " in drafted.stderr
    assert "sold: dates in 2 formats: %Y-%m-%d (240 rows), %m/%d/%Y (60 rows)" in drafted.stderr
    draft = yaml.safe_load((repo / "profiles" / "zips.yaml").read_text())
    features = {item["name"]: item for item in draft["features"]}
    assert features["zip"]["categories"] == sorted(ZIPS)
    assert features["zip"]["aliases"] == {
        "1002": "01002",
        "1003": "01003",
        "2134": "02134",
        "2138": "02138",
    }
    assert features["sold"]["format"] == ["%Y-%m-%d", "%m/%d/%Y"]
    assert (features["bedrooms"]["min"], features["bedrooms"]["max"]) == (0, 7)
    run(["git", "add", "profiles/zips.yaml"], cwd=repo)
    run(["git", "commit", "-qm", "zips profile"], cwd=repo)
    done = run(
        ["dvc", "exp", "run", "-S", "dataset=zips", "-S", "evaluate.must_beat=[median]"],
        cwd=repo,
        timeout=900,
    )
    assert "Running stage 'package'" in done.stdout

    # the pipeline: every zip code padded, every date read in its format
    processed = pd.concat(
        [
            pd.read_parquet(repo / "data" / "processed" / f"{split}.parquet")
            for split in ("train", "test")
        ]
    )
    read = sorted(zip(processed["zip"], processed["sold"].dt.date, processed["sqft"], strict=True))
    sqft = frame["sqft"].astype(float)
    assert read == sorted(zip(codes, dates, sqft, strict=True))  # no row dropped, none misread

    # batch scoring of the CSV as it is
    scored_path, model = tmp_path / "scored.csv", repo / "models" / "house-price"
    command = ["predict", "--input", CSV, "--output", str(scored_path), "--model", str(model)]
    run([str(HOUSE_PRICE), *command], cwd=repo)
    scored = pd.read_csv(scored_path)
    assert scored["error"].isna().all(), scored["error"].dropna().head()
    assert list(scored["line"]) == list(range(2, ROWS + 2))

    # the API, sent each CSV row as a client would (the zip as written, the date as ISO), and
    # the pipeline's test split (its canonical values)
    rows = [
        {"zip": zip_code, "sold": day.isoformat(), "sqft": float(sqft), "bedrooms": int(bedrooms)}
        for zip_code, day, sqft, bedrooms in zip(
            frame["zip"], dates, frame["sqft"], frame["bedrooms"], strict=True
        )
    ]
    test = pd.read_parquet(repo / "data" / "processed" / "test.parquet")
    test_rows = [
        {
            "zip": row.zip,
            "sold": row.sold.date().isoformat(),
            "sqft": row.sqft,
            "bedrooms": row.bedrooms,
        }
        for row in test.itertuples()
    ]
    stripped = next(row for row in rows if row["zip"] == "1002")
    api = start_api(model, tmp_path / "uvicorn.log")
    try:
        served, of_test = [
            post_json(api.url, "/predict/batch", {"rows": batch}) for batch in (rows, test_rows)
        ]
        padded, as_written, seven, number = [
            post_json(api.url, "/predict", row)
            for row in (
                {**stripped, "zip": "01002"},
                stripped,
                {**stripped, "bedrooms": 7},  # one more than the data shows
                {**stripped, "zip": 1002},  # a code is text: the number 1002 is no code
            )
        ]
    finally:
        stop_api(api)
    assert served.status == of_test.status == 200, served.text + of_test.text
    predictions = np.array(served.json()["predictions"])
    assert relative_difference(predictions, scored["prediction"].to_numpy()) <= PARITY_RTOL
    expected = pd.read_parquet(repo / "artifacts" / "test_predictions.parquet")["prediction"]
    difference = relative_difference(np.array(of_test.json()["predictions"]), expected.to_numpy())
    assert difference <= PARITY_RTOL
    assert padded.json() == as_written.json()
    assert seven.status == 200, seven.text
    assert number.status == 422, number.text
