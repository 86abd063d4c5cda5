"""One truth for every serving path: the registered MLflow model (`models:/<name>@champion`),
served by a real `mlflow models serve` and loaded by `mlflow.pyfunc.load_model` in a fresh
process, predicts what the real API's `/predict/batch` predicts on every evaluated row and on
spelling variants, and refuses what the API refuses, naming the field. The MLflow commands of
docs/pipeline.md are run as written."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import ApiServer, post_json, relative_difference, request_rows
from conftest import REPO, clean_env, clone_workspace, run
from servers import (
    MODEL_SERVE_START_TIMEOUT_S,
    free_port,
    spawn,
    start_model_server,
    stop_process_group,
    wait_for_http,
)

from house_price.schema import Profile

pytestmark = pytest.mark.slow

CHAMPION = "models:/house-price-houses@champion"
RTOL = 1e-9


@pytest.fixture(scope="module")
def champion(mlflow_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve` of the champion, read from the session's tracking server."""
    home = tmp_path_factory.mktemp("champion")
    env = clean_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    process, url = start_model_server(CHAMPION, home, env, home / "serve.log")
    try:
        yield url
    finally:
        stop_process_group(process)


def invocations(url: str, rows: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    reply = post_json(url, "/invocations", {"dataframe_records": rows}, timeout=120)
    return reply.status, reply.json()


def served(url: str, rows: list[dict[str, Any]]) -> np.ndarray:
    status, body = invocations(url, rows)
    assert status == 200, body
    return np.asarray(body["predictions"], dtype=float)


def api_batch(server: ApiServer, rows: list[dict[str, Any]]) -> np.ndarray:
    reply = post_json(server.url, "/predict/batch", {"rows": rows})
    assert reply.status == 200, reply.text
    return np.asarray(reply.json()["predictions"], dtype=float)


# --- mlflow models serve == the API ----------------------------------------------------------


@pytest.mark.parametrize("omit_missing", [False, True], ids=["null", "omitted"])
def test_served_champion_equals_the_api_on_every_evaluated_row(
    champion: str, server: ApiServer, evaluated_rows, profile: Profile, omit_missing: bool
) -> None:
    test, _ = evaluated_rows
    rows = request_rows(test, profile, omit_missing=omit_missing)
    assert any(value is None for row in rows for value in row.values()) or omit_missing
    mlflow_values, api_values = served(champion, rows), api_batch(server, rows)
    difference = relative_difference(mlflow_values, api_values)
    print(f"\nmlflow serve vs API, {len(rows)} rows: max relative difference {difference:.3g}")
    assert difference <= RTOL


def spelling_variants(column: Any) -> list[Callable[[str], str]]:
    """Other spellings the API normalises to the category: case, spacing, and the aliases."""
    aliases = {target: alias for alias, target in column.aliases.items()}
    return [
        str.upper,
        lambda value: f" {value.lower()} ",
        lambda value: f"\t{value.swapcase()}  ",
        lambda value: aliases.get(value, value),
    ]


def test_served_champion_normalises_spellings_as_the_api(
    champion: str, server: ApiServer, evaluated_rows, profile: Profile
) -> None:
    test, _ = evaluated_rows
    rows = request_rows(test, profile)[:200]
    canonical = api_batch(server, rows)
    categories = [column for column in profile.features if column.is_category]
    assert any(column.aliases for column in categories), "the profile should have aliases"
    for variant in range(4):
        respelled = []
        for row in rows:
            row = dict(row)
            for column in categories:
                if row.get(column.name) is not None:
                    row[column.name] = spelling_variants(column)[variant](row[column.name])
            respelled.append(row)
        assert respelled != rows
        api_values, mlflow_values = api_batch(server, respelled), served(champion, respelled)
        assert relative_difference(api_values, canonical) == 0.0
        assert relative_difference(mlflow_values, api_values) <= RTOL


def refusals(profile: Profile) -> dict[str, tuple[str, Callable[[dict[str, Any]], None]]]:
    """case -> (the field named, how it spoils the profile's example row)."""
    upper = profile.reference_year + 1

    def setter(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda row: row.__setitem__(name, value)

    return {
        "unknown category": ("location", setter("location", "Nowhere")),
        "unknown alias spelling": ("location", setter("location", "Sub urb")),
        "empty category": ("condition", setter("condition", "  ")),
        "below the minimum": ("sqft", setter("sqft", 10)),
        "above the maximum": ("bedrooms", setter("bedrooms", 21)),
        "after the reference year": ("year_built", setter("year_built", upper)),
        "not a whole number": ("bedrooms", setter("bedrooms", 2.5)),
        "number as text": ("sqft", setter("sqft", "1850")),
        "boolean": ("sqft", setter("sqft", True)),
        "number as category": ("location", setter("location", 3)),
        "infinite": ("sqft", setter("sqft", float("inf"))),
        "missing field": ("sqft", lambda row: row.pop("sqft")),
        "null in a required field": ("bedrooms", setter("bedrooms", None)),
    }


def test_served_champion_refuses_what_the_api_refuses(
    champion: str, server: ApiServer, profile: Profile
) -> None:
    """Case by case, each row alone and as the second row of two (the first one valid): the API
    answers 422 naming the field, mlflow serve 400 INVALID_PARAMETER_VALUE naming the row and
    the field; nothing is predicted for the valid row either."""
    example = json.loads(json.dumps(profile.example_row(), default=str))
    assert api_batch(server, [example]) == pytest.approx(served(champion, [example]), rel=RTOL)
    refused = {}
    for case, (field, spoil) in refusals(profile).items():
        row = dict(example)
        spoil(row)
        api = post_json(server.url, "/predict/batch", {"rows": [example, row]})
        assert api.status == 422, (case, api.text)
        assert any(item["loc"][-1] == field for item in api.json()["detail"]), (case, api.text)
        for rows, position in (([row], 0), ([example, row], 1)):
            status, body = invocations(champion, rows)
            assert status == 400, (case, body)
            assert body["error_code"] == "INVALID_PARAMETER_VALUE", (case, body)
            # mlflow serve puts the DataFrame first: "Failed to predict data '...'. \nError: "
            message = body["message"].rsplit("\nError: ", 1)[-1]
            if case == "missing field" and len(rows) == 1:
                # No row has the column: MLflow's own signature check names it.
                assert f"missing inputs ['{field}']" in message, message
            else:
                assert f"row {position}: {field}: " in message, (case, message)
                assert message.startswith(f"1 of {len(rows)} rows invalid"), message
        refused[case] = message
    print("\n" + "\n".join(f"{case}: {message[:150]}" for case, message in refused.items()))


def test_served_champion_ignores_other_columns(
    champion: str, server: ApiServer, profile: Profile
) -> None:
    """The documented difference: a table's other columns (an id, the target) are ignored, as
    `house-price predict` ignores them, where the API's JSON refuses an unknown field."""
    example = json.loads(json.dumps(profile.example_row(), default=str))
    extra = {**example, "id": 7, profile.target.name: 123456.0}
    assert post_json(server.url, "/predict/batch", {"rows": [extra]}).status == 422
    assert served(champion, [extra]) == pytest.approx(api_batch(server, [example]), rel=RTOL)


# --- mlflow.pyfunc.load_model(...).predict(pd.read_csv(...)) == the API ---------------------

PYFUNC_CSV = textwrap.dedent(
    """
    import json, sys
    import mlflow.pyfunc, numpy as np, pandas as pd
    from mlflow.exceptions import MlflowException
    model = mlflow.pyfunc.load_model("models:/house-price-houses@champion")
    frame = pd.read_csv(sys.argv[1])
    np.save(sys.argv[2], np.asarray(model.predict(frame), dtype=float))
    try:
        model.predict(pd.read_csv(sys.argv[3]))
        refusal = None
    except MlflowException as exc:
        refusal = {"error_code": exc.error_code, "message": exc.message}
    print(json.dumps({"dtypes": {k: str(v) for k, v in frame.dtypes.items()}, "refusal": refusal}))
    """
)


def test_pyfunc_predicts_a_read_csv_frame_as_the_api(
    mlflow_server: Any, server: ApiServer, evaluated_rows, profile: Profile, tmp_path: Path
) -> None:
    """In a fresh process, from the tracking server only: a CSV with an id and the target
    column, whole-number sqft (int64 in a float feature), bedrooms (int64), year_built with
    missing values (float64 in an int feature), categories in other spellings."""
    test, _ = evaluated_rows
    frame = test.copy()
    frame.insert(0, "id", range(len(frame)))
    frame["sqft"] = frame["sqft"].round().astype(int)
    for column in profile.features:  # written as whole numbers, an empty field when missing
        if column.kind == "int":
            frame[column.name] = frame[column.name].astype("Int64")
    frame["location"] = [
        value.upper() if index % 3 == 0 else f" {value.lower()} " if index % 3 == 1 else value
        for index, value in enumerate(frame["location"])
    ]
    frame.loc[frame["location"].str.strip() == "Suburb", "location"] = "Suburban"  # the alias
    good = tmp_path / "houses.csv"
    frame.to_csv(good, index=False)
    bad = tmp_path / "bad.csv"
    spoiled = frame.head(5).copy()
    spoiled.loc[3, "location"] = "Nowhere"
    spoiled.to_csv(bad, index=False)
    output = tmp_path / "predictions.npy"
    result = run(
        ["python", "-c", PYFUNC_CSV, str(good), str(output), str(bad)],
        cwd=tmp_path,  # not the repo: nothing local to fall back on
        env=clean_env(MLFLOW_TRACKING_URI=mlflow_server.url),
        timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    dtypes = report["dtypes"]
    assert dtypes["sqft"] == "int64", dtypes  # whole numbers in a float feature
    assert dtypes["bedrooms"] == "int64", dtypes
    assert dtypes["year_built"] == "float64", dtypes  # an int column with missing values
    read = pd.read_csv(good)
    assert read["year_built"].isna().any()
    assert read["condition"].isna().any()
    api_values = api_batch(server, request_rows(read, profile))
    pyfunc_values = np.load(output)
    difference = relative_difference(pyfunc_values, api_values)
    print(f"\npyfunc(read_csv) vs API, {len(read)} rows: max relative difference {difference:.3g}")
    assert difference <= RTOL
    refusal = report["refusal"]
    assert refusal is not None
    assert refusal["error_code"] == "INVALID_PARAMETER_VALUE", refusal
    assert refusal["message"].startswith("1 of 5 rows invalid, nothing predicted: row 3: ")
    assert "location: Input should be one of: " in refusal["message"]
    assert "(got 'Nowhere')" in refusal["message"]


# --- docs/pipeline.md's MLflow commands, as written ---------------------------------------------


def docs_block(containing: str) -> str:
    """The one ```bash block of docs/pipeline.md (its MLflow section) that contains
    `containing`."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "docs" / "pipeline.md").read_text(), re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"docs/pipeline.md: {len(found)} bash blocks contain {containing!r}"
    return found[0]


def test_docs_mlflow_commands_work_as_written(
    pipeline_repo: Path, server: ApiServer, profile: Profile, tmp_path: Path
) -> None:
    """In a copy of the pipeline repo whose package stage re-ran with no tracking
    URI (`make run`'s setting: the local store ./mlruns), docs/pipeline.md's serve block
    runs as written (only its port made free) from the project folder with the venv on PATH and
    no MLFLOW_* variable, and its curl request gets the API's prediction."""
    repo = clone_workspace(pipeline_repo, tmp_path / "repo")
    env = clean_env()
    run(["dvc", "repro", "--force", "--single-item", "package"], cwd=repo, env=env)
    run(["dvc", "repro"], cwd=repo, env=env)
    assert (repo / "mlruns" / "mlflow.db").is_file()
    port = str(free_port())
    serve = docs_block("mlflow models serve")
    assert serve.count(" -p 5001") == 1, serve
    curl = docs_block("/invocations")
    assert curl.count(":5001/") == 1, curl
    command = ["bash", "-euc", serve.replace(" -p 5001", f" -p {port}")]
    process = spawn(command, tmp_path / "serve.log", env, repo)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", MODEL_SERVE_START_TIMEOUT_S, process)
        answer = run(["bash", "-euc", curl.replace(":5001/", f":{port}/")], cwd=repo, env=env)
    except BaseException:
        print((tmp_path / "serve.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        stop_process_group(process)
    body = json.loads(re.search(r"-d '(.*)'", curl, re.S).group(1))
    (row,) = body["dataframe_records"]
    assert row["location"] != row["location"].strip()  # a spelling the API normalises
    expected = api_batch(server, [row])
    assert json.loads(answer.stdout)["predictions"] == pytest.approx(expected, rel=RTOL)
