"""Data shapes that broke late (issue 25), each as a kind, through `profile init`'s drafting, the
pipeline's steps and every serving face in-process (tests/shapes.py): the faces agree on every
test row, or the draft is refused in one line before any training.

- No category column (numbers only: `package` ended in SimpleImputer's AttributeError), and its
  variants: categories only, dates only, one feature, an all-empty column.
- Header names the request model could not take (`_lot`: "Fields must not use names with leading
  underscores"), and their variants: BaseModel's attributes, Python keywords, spaces, dots,
  dashes, YAML's special characters, unicode, digits first, names differing in case or in
  Unicode normalisation only, a very long name. They work in every face, as their JSON key.
- Header names with a control character (a newline in a quoted header) are refused by the draft
  and by the profile loader, in one line: see tests/unit/drafting/test_names.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from shapes import (
    ODD_NAMES,
    Drafted,
    RefusedError,
    TestClient,
    assert_faces_agree,
    build,
    csv_bytes,
    draft,
    numbers_only,
    odd_headers,
    one_line,
    priced,
)
from tiny_bundle import REFERENCE_YEAR, TinyPipeline

from house_price.api import create_app
from house_price.core.errors import DataError
from house_price.core.io import read_raw_csv
from house_price.data.cleaning import clean
from house_price.schema import load_profile

ROWS = 120


def shape(kind: str) -> bytes:
    rng = np.random.default_rng(25)
    if kind == "numbers only":
        return numbers_only(ROWS)
    days = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 700, ROWS), "D")
    columns: dict[str, Any] = {
        "numbers only, one feature": {"sqft": rng.integers(500, 4000, ROWS)},
        "categories only": {
            "location": rng.choice(["Urban", "Suburb", "Rural"], ROWS),
            "condition": rng.choice(["Good", "Fair", "Poor"], ROWS),
        },
        "a date only": {"sold": days.strftime("%Y-%m-%d").to_numpy()},
        "numbers and an empty column": {
            "sqft": rng.integers(500, 4000, ROWS),
            "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], ROWS),
            "notes": [""] * ROWS,
        },
    }[kind]
    return priced(columns, rng)


@pytest.mark.parametrize(
    "kind",
    [
        "numbers only",
        "numbers only, one feature",
        "categories only",
        "a date only",
        "numbers and an empty column",
    ],
)
def test_a_data_set_without_some_kind_of_column_works_in_every_face(
    kind: str, tmp_path: Path
) -> None:
    drafted = draft(tmp_path, shape(kind), "price")
    profile = load_profile(drafted.profile, REFERENCE_YEAR)
    kinds = {column.kind for column in profile.features}
    wanted = {
        "numbers only": {"int", "float"},
        "numbers only, one feature": {"int"},
        "categories only": {"category"},
        "a date only": {"date"},
        "numbers and an empty column": {"int", "float"},
    }[kind]
    assert kinds == wanted
    assert_faces_agree(build(tmp_path, drafted), drafted, tmp_path)


def test_a_data_set_whose_only_feature_is_empty_is_refused_in_one_line(tmp_path: Path) -> None:
    content = csv_bytes({"notes": [""] * ROWS, "price": np.arange(ROWS) * 1000 + 100_000})
    with pytest.raises(RefusedError) as refused:
        draft(tmp_path, content, "price")
    csv = tmp_path / "shape.csv"
    assert str(refused.value) == (
        f"house-price: error: {csv}: no column can be a feature: notes (empty)\n"
    )


# --- header names ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Drafted, TinyPipeline]:
    """A column under each of ODD_NAMES, drafted, trained and packaged once."""
    directory = tmp_path_factory.mktemp("odd")
    drafted = draft(directory, odd_headers(ROWS), "price")
    return directory, drafted, build(directory, drafted)


def test_any_printable_header_name_works_in_every_face(
    odd: tuple[Path, Drafted, TinyPipeline],
) -> None:
    directory, drafted, pipeline = odd
    assert len(set(ODD_NAMES)) == len(ODD_NAMES)
    assert pipeline.bundle.profile.feature_names == ODD_NAMES
    assert_faces_agree(pipeline, drafted, directory)


def test_a_header_name_is_the_json_key_and_the_422_names_it(
    odd: tuple[Path, Drafted, TinyPipeline],
) -> None:
    """The one-row model's fields are aliased: the key a client sends is the header name, and
    nothing else is taken (not the field's own name); a bad value is named by the header."""
    _, _, pipeline = odd
    example = pipeline.bundle.profile.example_row()
    with TestClient(create_app(pipeline.bundle_dir)) as client:
        assert client.post("/predict", json=example).status_code == 200
        renamed = {("feature_0" if key == "_lot" else key): value for key, value in example.items()}
        reply = client.post("/predict", json=renamed)
        assert reply.status_code == 422
        assert {tuple(item["loc"]) for item in reply.json()["detail"]} == {
            ("body", "_lot"),
            ("body", "feature_0"),
        }
        reply = client.post("/predict", json={**example, "model_config": "x"})
        assert reply.status_code == 422
        (item,) = reply.json()["detail"]
        assert item["loc"] == ["body", "model_config"]
        assert item["msg"].startswith("model_config: Input should be a valid number")


def test_odd_names_keep_their_refusals_one_line(
    odd: tuple[Path, Drafted, TinyPipeline],
) -> None:
    """A CSV missing a column lists the header it found, odd names included, in one line."""
    directory, drafted, pipeline = odd
    content = drafted.csv.read_text(encoding="utf-8").replace("_lot,", '"other\nname",', 1)
    other = directory / "other.csv"
    other.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as refused:
        clean(read_raw_csv(other), pipeline.bundle.profile, str(other))
    assert one_line(str(refused.value))
    assert "missing column(s) '_lot'" in str(refused.value)
    assert "found: other\\nname, __lot," in str(refused.value)


# --- names that meet in the model's matrix -----------------------------------------------------


def clashing(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    """Two columns whose model columns share a name: a category's are `<name>_<level>`."""
    if kind == "number and level":
        return {
            "heating_gas": rng.integers(0, 50, ROWS),
            "heating": rng.choice(["gas", "oil"], ROWS),
        }
    if kind == "level and level":
        return {"a": rng.choice(["b_c", "d"], ROWS), "a_b": rng.choice(["c", "e"], ROWS)}
    # house_age, derived from year_built, and the level "age" of the category "house"
    return {"year_built": rng.integers(1900, 2020, ROWS), "house": rng.choice(["age", "new"], ROWS)}


@pytest.mark.parametrize("kind", ["number and level", "level and level", "derived and level"])
def test_names_that_would_meet_in_the_model_matrix_are_refused_in_one_line(
    kind: str, tmp_path: Path
) -> None:
    """The fitted transformer refused them with a traceback at train (scikit-learn: "Output
    feature names ... are not unique"). profile init and the profile loader refuse them first."""
    rng = np.random.default_rng(3)
    with pytest.raises(RefusedError) as refused:
        draft(tmp_path, priced(clashing(kind, rng), rng), "price")
    message = str(refused.value).removesuffix("\n")
    assert one_line(message)
    assert "both name the model's column" in message
    assert message.endswith("(a category's columns are named <feature>_<level>): rename one")
    spec = {
        "name": "clash",
        "target": {"name": "price"},
        "features": [
            {"name": "heating", "type": "category", "categories": ["gas"], "example": "gas"},
            {"name": "heating_gas", "example": 1.0},
        ],
    }
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(DataError) as loaded:
        load_profile(path, REFERENCE_YEAR)
    assert str(loaded.value) == (
        f"{path}: profile: feature 'heating_gas' and the level 'gas' of the category 'heating' "
        "both name the model's column 'heating_gas' (a category's columns are named "
        "<feature>_<level>): rename one"
    )
