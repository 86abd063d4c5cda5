"""Names and values from a CSV in the draft's YAML and in one-line messages (issue 25: a newline
inside a quoted header made `profile init` write YAML that did not parse, and split its error
over two lines).

A header name with a control or line-breaking character (`core.errors.CONTROL`) is refused, by
the draft and by the profile loader (so by ingest, before any training), in one line naming it
escaped; every other name and value the YAML writer quotes so that the draft reads back as it is;
every message that quotes text from a file stays one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from house_price.core.errors import DataError, error_line, escaped, name_list
from house_price.core.profile_file import RESERVED_NAMES
from house_price.core.yamlfile import load_yaml
from house_price.drafting import draft_profile, render
from house_price.schema import load_profile

# Each breaks a line for str.splitlines(), or is a C0/C1 control character.
CONTROLS = ["\n", "\r", "\r\n", "\t", "\x0b", "\x0c", "\x1b", "\x1c", "\x7f", "\x85", "\u2028",
            "\u2029"]  # fmt: skip


def text_frame(columns: dict[str, list[str]]) -> pd.DataFrame:
    """A frame as io.read_raw_csv reads a CSV: every field text, rows indexed by file line."""
    frame = pd.DataFrame(columns, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def houses(extra: dict[str, list[str]] | None = None, rows: int = 20) -> pd.DataFrame:
    columns = {
        "price": [str(100_000 + 7_919 * index) for index in range(rows)],
        "sqft": [str(800 + 37 * (index * 7 % rows)) for index in range(rows)],  # no leak
    }
    return text_frame(columns | (extra or {}))


def drafted(frame: pd.DataFrame) -> str:
    return render(draft_profile(frame, "price", name="odd", source="odd.csv", command="test"))


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("where", ["feature", "target"])
def test_a_header_name_with_a_control_character_is_refused_by_the_draft(
    control: str, where: str
) -> None:
    name = f"sale{control}date"
    frame = houses({name: ["1"] * 20}) if where == "feature" else houses()
    if where == "target":
        frame = frame.rename(columns={"price": name})
    with pytest.raises(DataError) as refused:
        draft_profile(frame, name, name="odd", source="odd.csv", command="test")
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    position = 3 if where == "feature" else 1
    assert message == (
        f"column {position} of the header, {name!r}: a control character ({control[0]!r}) in "
        "a name: rename the column, in the CSV's header too"
    )


@pytest.mark.parametrize("control", ["\n", "\t", "\x1b", "\u2028"])
@pytest.mark.parametrize("place", ["features[0].name", "target.name", "derived", "per"])
def test_a_profile_naming_a_column_with_a_control_character_is_refused_in_one_line(
    control: str, place: str, tmp_path: Path
) -> None:
    """What ingest and every stage load first: the profile. Hand-written, a name with a control
    character is refused there, before any data is read."""
    name = f"lot{control}size"
    spec = {
        "name": "odd",
        "target": {"name": "price", "min": 0},
        "features": [
            {"name": "sqft", "min": 100, "max": 9000, "example": 1500.0},
            {"name": "year_built", "type": "int", "min": 1900, "max": 2025, "example": 1990},
        ],
        "derived": [{"name": "house_age", "op": "age", "inputs": ["year_built"]}],
    }
    if place == "features[0].name":
        spec["features"][0]["name"] = name
    elif place == "target.name":
        spec["target"]["name"] = name
    elif place == "derived":
        spec["derived"][0]["name"] = name
    else:
        spec["target"]["per"] = name
    path = tmp_path / "odd.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=False), encoding="utf-8")
    with pytest.raises(DataError) as refused:
        load_profile(path, 2025)
    message = error_line(refused.value)
    assert len(message.splitlines()) == 1
    assert f"a control character ({control!r}) in a name" in message
    assert repr(name) in message


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_a_reserved_name_is_refused_as_a_column(name: str, tmp_path: Path) -> None:
    """`__raw_line__` indexes the Dask engine's raw partitions: as a profile column, its process
    stage ended in pandas' `cannot insert __raw_line__, already exists`. `(prediction)` labels
    the prediction's drift bins: a column of that name would share its series, silently."""
    frame = houses({name: [str(index % 7) for index in range(20)]})
    with pytest.raises(DataError) as refused:
        drafted(frame)
    assert str(refused.value) == (
        f"column 3 of the header, {name!r}: {name!r} names {RESERVED_NAMES[name]}: rename the "
        "column, in the CSV's header too"
    )
    path = tmp_path / "odd.yaml"
    spec = {
        "name": "odd",
        "target": {"name": "price"},
        "features": [{"name": name, "example": 1.0}],
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(DataError) as loaded:
        load_profile(path, 2025)
    assert f"features[0] ({name}).name: {name!r} names {RESERVED_NAMES[name]}" in str(loaded.value)


def test_the_issues_newline_header_cannot_reach_the_yaml() -> None:
    """The issue's example: a quoted header with a newline, on a year column (its derived
    feature's comment) and on an id column (its left-out comment) broke the YAML."""
    frame = houses({"year\nbuilt": [str(1950 + index) for index in range(20)]})
    with pytest.raises(DataError, match=r"column 3 of the header, 'year\\nbuilt'"):
        drafted(frame)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.text(st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1).filter(
        lambda text: text.strip() and text.strip() not in ("price", "sqft")
    ),
    values=st.lists(st.text(st.characters(exclude_categories=["Cs"])), min_size=3, max_size=3),
)
def test_any_printable_name_and_any_value_reads_back_from_the_draft(
    name: str, values: list[str]
) -> None:
    """Whatever a header (without a control character) and a text column's values hold (quotes,
    `:`, `#`, a leading `-`, YAML words, control characters in values), the YAML written reads
    back as the draft, and every comment stays a comment."""
    rows = 21
    column = [values[index % 3] for index in range(rows)]
    frame = houses({name.strip(): column}, rows=rows)
    draft = draft_profile(frame, "price", name="odd", source="odd.csv", command="test")
    text = render(draft)
    assert load_yaml(text) == draft.profile
    assert all(line.lstrip().startswith("#") or ":" in line or line.lstrip().startswith("- ")
               for line in text.splitlines())  # fmt: skip


def test_a_comment_holding_a_line_break_stays_one_comment_line() -> None:
    """Whatever text a comment quotes from the file, the renderer escapes its line breaks: the
    rest of the line would otherwise be read as YAML (`mapping values are not allowed here`)."""
    draft = draft_profile(houses(), "price", name="odd", source="odd.csv", command="test")
    draft.columns[0].comments.append("quoted: 'a\nb: c'\u2028- d")
    text = render(draft)
    assert load_yaml(text) == draft.profile
    assert "  # quoted: 'a\\nb: c'\\u2028- d" in text.splitlines()


def test_messages_quote_text_from_a_file_on_one_line() -> None:
    assert escaped("a\nb\tc\x85d\u2028e") == "a\\nb\\tc\\x85d\\u2028e"
    assert (
        escaped("plain text, é and a no-break\xa0space") == "plain text, é and a no-break\xa0space"
    )
    assert name_list(["sqft", "lot\nsize", "x\ry"]) == "sqft, lot\\nsize, x\\ry"
    assert error_line(DataError("data.csv: value 'a\nb'")) == "data.csv: value 'a\\nb'"
