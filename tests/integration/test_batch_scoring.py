"""`house-price predict`: batch scoring of a CSV, run as the real console script.

Fixtures from tests/conftest.py: `bundle_dir` (the pipeline's model bundle) and `evaluated_rows`
(the test split and the evaluate stage's prediction for each of its rows). The parity test also
starts a real uvicorn server (tests/api_support.py) and compares with POST /predict/batch."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import PARITY_RTOL, ApiServer, post_json, relative_difference, request_rows

from house_price.schema import Profile

pytestmark = pytest.mark.slow  # the session pipeline run, a real uvicorn server

HOUSE_PRICE = Path(sys.executable).parent / "house-price"


def predict(
    args: list[str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOUSE_PRICE), "predict", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def csv_text(value: Any, column: Any) -> str:
    """One typed value as the profile's CSV writes it (missing: the empty field)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if column.is_date:
        fmt = "%Y-%m-%d" if column.date_format == "ISO8601" else column.date_format
        return pd.Timestamp(value).strftime(fmt)
    if column.kind == "int":
        return str(int(value))
    if column.kind == "float":
        return repr(float(value))
    return str(value)


def write_csv(path: Path, profile: Profile, rows: list[dict[str, Any]]) -> Path:
    """Rows of raw text (or typed values, written by `csv_text`), with an id column and the
    target absent: neither is needed to score."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", *profile.feature_names])
        for number, row in enumerate(rows):
            writer.writerow(
                [
                    number,
                    *(
                        row[c.name] if isinstance(row[c.name], str) else csv_text(row[c.name], c)
                        for c in profile.features
                    ),
                ]
            )
    return path


def split_csv(path: Path, test: pd.DataFrame, profile: Profile) -> Path:
    rows = [
        {column.name: csv_text(record[column.name], column) for column in profile.features}
        for record in test[profile.feature_names].to_dict(orient="records")
    ]
    return write_csv(path, profile, rows)


def read_output(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype={"error": str, "prediction": str})


def predictions_of(output: pd.DataFrame) -> np.ndarray:
    return output["prediction"].astype(float).to_numpy()


# --- parity ------------------------------------------------------------------------------------


def test_scores_the_test_split_as_the_api_and_the_evaluate_stage(
    server: ApiServer,
    bundle_dir: Path,
    evaluated_rows: tuple[pd.DataFrame, np.ndarray],
    profile: Profile,
    tmp_path: Path,
) -> None:
    test, expected = evaluated_rows
    incomplete = int(test[profile.feature_names].isna().any(axis=1).sum())
    source = split_csv(tmp_path / "houses.csv", test, profile)
    output = tmp_path / "out" / "predictions.csv"
    result = predict(["--input", str(source), "--output", str(output), "--model", str(bundle_dir)])
    assert result.returncode == 0, result.stderr
    assert f"{len(test)} of {len(test)} rows scored" in result.stderr
    scored = read_output(output)
    assert list(scored.columns) == ["line", "prediction", "error"]
    assert scored["line"].tolist() == list(range(2, len(test) + 2))
    assert (scored["error"] == "").all()
    batch = predictions_of(scored)
    reply = post_json(server.url, "/predict/batch", {"rows": request_rows(test, profile)})
    assert reply.status == 200, reply.text
    api = np.array(reply.json()["predictions"])
    print(
        f"\nbatch scoring parity: {len(test)} rows ({incomplete} with missing values); max "
        f"relative difference vs API {relative_difference(batch, api):.2e}, vs evaluate "
        f"{relative_difference(batch, expected):.2e}"
    )
    assert incomplete >= 10
    assert relative_difference(batch, api) <= PARITY_RTOL
    assert relative_difference(batch, expected) <= PARITY_RTOL


# --- spellings and bad rows ----------------------------------------------------------------------


def example_text(profile: Profile) -> dict[str, str]:
    return {column.name: csv_text(column.example, column) for column in profile.features}


def test_spellings_score_as_the_canonical_category_and_bad_rows_are_reported(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    example = example_text(profile)
    good_variants = [
        {**example, "location": "Suburb"},
        {**example, "location": " suburb "},
        {**example, "location": "SUBURB"},
        {**example, "location": "Suburban"},
        {**example, "bathrooms": "", "year_built": " ", "condition": ""},  # nullable, missing
        {**example, "bedrooms": "3.0", "sqft": " 1850 "},
    ]
    bad_rows = [  # (row, field, message)
        ({**example, "location": "Atlantis"}, "location", "Input should be one of: "),
        ({**example, "sqft": "50"}, "sqft", "greater than or equal to 100"),
        ({**example, "bedrooms": "2.5"}, "bedrooms", "Input should be a whole number"),
        ({**example, "sqft": "big"}, "sqft", "Input should be a valid number"),
        ({**example, "sqft": ""}, "sqft", "missing value, and the column is not nullable"),
        ({**example, "location": ""}, "location", "missing value, and the column is not nullable"),
        ({**example, "sqft": "inf"}, "sqft", "Input should be a finite number"),
        ({**example, "bathrooms": "nan"}, "bathrooms", "Input should be a finite number"),
        ({**example, "year_built": "2030"}, "year_built", "less than or equal to 2025"),
    ]
    rows = good_variants + [row for row, _, _ in bad_rows]
    source = write_csv(tmp_path / "houses.csv", profile, rows)
    output = tmp_path / "predictions.csv"
    result = predict(["--input", str(source), "--output", str(output), "--model", str(bundle_dir)])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    scored = read_output(output)
    assert len(scored) == len(rows)
    values = predictions_of(scored.iloc[: len(good_variants)])
    assert np.all(values[:4] == values[0])  # the spellings of Suburb
    assert np.isfinite(values).all()
    assert values[5] == values[0]  # "3.0" is the whole number 3, " 1850 " is 1850
    lines = result.stderr.splitlines()
    for offset, (row, field, message) in enumerate(bad_rows):
        index = len(good_variants) + offset
        line = index + 2
        record = scored.iloc[index]
        assert record["line"] == line
        assert record["prediction"] == ""
        assert record["error"].startswith(f"{field}: "), record["error"]
        assert message in record["error"]
        expected = f"{source}: line {line}: {field}: "
        (reported,) = [text for text in lines if text.startswith(expected)]
        assert message in reported
        assert f"(got {row[field]!r})" in reported
    assert f"{len(good_variants)} of {len(rows)} rows scored, {len(bad_rows)} bad" in result.stderr


def test_bad_lines_are_capped_and_every_error_of_a_row_is_named(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    example = example_text(profile)
    rows = [example] + [{**example, "bedrooms": "1.5", "location": "Moon"}] * 25
    source = write_csv(tmp_path / "houses.csv", profile, rows)
    output = tmp_path / "predictions.csv"
    result = predict(["--input", str(source), "--output", str(output), "--model", str(bundle_dir)])
    assert result.returncode == 1
    reported = [line for line in result.stderr.splitlines() if ": line " in line]
    assert len(reported) == 20
    assert reported[0].startswith(f"{source}: line 3: bedrooms: Input should be a whole number")
    assert "; location: Input should be one of: " in reported[0]
    assert f"{source}: ... and 5 more bad rows" in result.stderr
    scored = read_output(output)
    assert (scored["error"] != "").sum() == 25
    assert scored["prediction"].iloc[0] != ""


# --- whole-file problems and usage -------------------------------------------------------------


def test_whole_file_problems_are_one_line_and_write_nothing(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    example = example_text(profile)
    no_column = tmp_path / "no_column.csv"
    pd.DataFrame([example]).drop(columns=["sqft"]).to_csv(no_column, index=False)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 20)
    good = write_csv(tmp_path / "good.csv", profile, [example])
    cases = [
        (tmp_path / "absent.csv", bundle_dir, "file not found"),
        (binary, bundle_dir, "not a UTF-8 text CSV"),
        (no_column, bundle_dir, "missing column(s) 'sqft'"),
        (good, tmp_path / "no-bundle", "not a model bundle"),
    ]
    for source, model, message in cases:
        output = tmp_path / "predictions.csv"
        result = predict(["--input", str(source), "--output", str(output), "--model", str(model)])
        assert result.returncode == 1, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("house-price: error: ")
        assert message in line
        assert not output.exists()
    broken = tmp_path / "broken-bundle"
    broken.mkdir()
    for part in bundle_dir.iterdir():
        if part.is_file():  # not registrations/
            (broken / part.name).write_bytes(part.read_bytes())
    (broken / "model.ubj").write_bytes(b"not a model")
    result = predict(
        ["--input", str(good), "--output", str(tmp_path / "p.csv"), "--model", str(broken)]
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("house-price: error: ")
    assert "unreadable bundle" in line
    assert not (tmp_path / "p.csv").exists()


def test_an_output_or_input_that_is_no_regular_file_is_one_line(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    """`--output /dev/stdout` or a pipe once replaced the device with a file and said it wrote."""
    good = write_csv(tmp_path / "good.csv", profile, [example_text(profile)])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    cases = [
        (good, pipe, f"{pipe}: not a regular file (a device, pipe or socket)"),
        (good, good / "out.csv", f"cannot be written: {good} is not a folder"),
        (
            tmp_path,
            tmp_path / "p.csv",
            f"{tmp_path}: not a regular file (a folder, device or pipe)",
        ),
    ]
    for source, output, message in cases:
        result = predict(
            ["--input", str(source), "--output", str(output), "--model", str(bundle_dir)]
        )
        assert result.returncode == 1, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("house-price: error: ")
        assert message in line
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert not (tmp_path / "p.csv").exists()


def test_output_dash_writes_the_csv_to_stdout_and_every_message_to_stderr(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    """`--output -` wrote a file named `-`. Now the CSV goes to stdout, byte for byte what
    `--output <file>` writes, and nothing else does: the bad rows and the summary go to stderr.
    A file named `-` is `./-`."""
    example = example_text(profile)
    source = write_csv(tmp_path / "houses.csv", profile, [example, {**example, "sqft": "big"}])
    model = ["--model", str(bundle_dir)]
    piped = predict(["--input", str(source), "--output", "-", *model], cwd=tmp_path)
    assert piped.returncode == 1, piped.stderr
    to_file = predict(["--input", str(source), "--output", "p.csv", *model], cwd=tmp_path)
    assert piped.stdout == (tmp_path / "p.csv").read_text()
    assert piped.stdout.startswith("line,prediction,error\n2,")
    assert piped.stderr.splitlines() == [
        f"{source}: line 3: sqft: Input should be a valid number (got 'big')",
        "house-price: wrote the predictions to stdout: 1 of 2 rows scored, 1 bad (see its error "
        "column)",
    ]
    assert to_file.stderr.splitlines()[-1].startswith("house-price: wrote p.csv: 1 of 2 rows")
    assert not (tmp_path / "-").exists()
    named = predict(["--input", str(source), "--output", "./-", *model], cwd=tmp_path)
    assert named.returncode == 1
    assert named.stdout == ""
    assert (tmp_path / "-").read_text() == piped.stdout


def test_output_dash_writes_nothing_on_a_whole_file_problem(
    bundle_dir: Path, tmp_path: Path
) -> None:
    result = predict(
        ["--input", str(tmp_path / "absent.csv"), "--output", "-", "--model", str(bundle_dir)],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line == f"house-price: error: {tmp_path / 'absent.csv'}: file not found"


def test_output_dash_stops_quietly_when_the_reader_goes(
    bundle_dir: Path, profile: Profile, tmp_path: Path
) -> None:
    """`| head`: the reader closes the pipe after a few bytes of a 200 KB CSV. The command
    stops as a Unix tool killed by SIGPIPE does (141), with no traceback and no summary that
    claims it wrote the predictions."""
    source = write_csv(tmp_path / "houses.csv", profile, [example_text(profile)] * 10_000)
    args = ["--input", str(source), "--output", "-", "--model", str(bundle_dir)]
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [str(HOUSE_PRICE), "predict", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=tmp_path,
        )
    try:
        assert process.stdout.read(100).startswith(b"line,prediction,error\n")
        process.stdout.close()
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert code == 141, log.read_text()
    assert log.read_text() == ""
    assert not (tmp_path / "-").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = predict(["--output", str(tmp_path / "p.csv")])
    assert result.returncode == 2
    assert "--input" in result.stderr
