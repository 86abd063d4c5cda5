"""A date column in several formats (issue 25): a profile may list formats, each value is read
by the first that reads it, in cleaning and in batch scoring alike; a list in which one text
reads as two dates is refused when the profile loads, in one line naming the column, the text
and its two readings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from house_price.core.dateformats import check_date_formats, written
from house_price.core.errors import DataError
from house_price.core.parsing import to_dates
from house_price.data.cleaning import parse_dates
from house_price.drafting.rules import DATE_FORMATS
from house_price.schema import load_profile, profile_from_dict
from house_price.serving.batch import RowValidator, describe_errors, request_rows

PROFILES = Path(__file__).resolve().parents[3] / "profiles"
ISO_AND_US = ["%Y-%m-%d", "%m/%d/%Y"]


def kingcounty(date_format: Any) -> dict[str, Any]:
    spec = yaml.safe_load((PROFILES / "kingcounty.yaml").read_text())
    (date,) = [column for column in spec["features"] if column["name"] == "date"]
    date["format"] = date_format
    return spec


def test_a_list_of_formats_loads_and_a_list_of_one_is_that_format() -> None:
    assert profile_from_dict(kingcounty(ISO_AND_US), 2025).feature("date").date_format == (
        "%Y-%m-%d",
        "%m/%d/%Y",
    )
    one = profile_from_dict(kingcounty(["%Y%m%dT%H%M%S"]), 2025)
    assert one.feature("date").date_format == "%Y%m%dT%H%M%S"


@pytest.mark.parametrize(
    ("formats", "problem"),
    [
        (
            ["%d/%m/%Y", "%m/%d/%Y"],
            "'03/02/2001' reads as 2001-02-03 in '%d/%m/%Y' and as 2001-03-02 in '%m/%d/%Y'",
        ),
        (
            ["%Y-%m-%d", "%d.%m.%Y", "%m.%d.%Y"],
            "'03.02.2001' reads as 2001-02-03 in '%d.%m.%Y' and as 2001-03-02 in '%m.%d.%Y'",
        ),
        (
            ["ISO8601", "%Y%d%m"],
            "'20010302' reads as 2001-02-03 in '%Y%d%m' and as 2001-03-02 in 'ISO8601'",
        ),
        (["%Y-%m-%d", "%Y-%m-%d"], "a format is listed twice ('%Y-%m-%d', '%Y-%m-%d')"),
        ([], "a list of formats needs at least one"),
    ],
)
def test_formats_that_read_one_text_as_two_dates_are_refused(
    tmp_path: Path, formats: list[str], problem: str
) -> None:
    path = tmp_path / "kc.yaml"
    path.write_text(yaml.safe_dump(kingcounty(formats)))
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    message = str(info.value)
    assert message.startswith(f"{path}: features[0] (date).format: {problem}")
    assert "\n" not in message


ZONE = (
    "has a time zone (%z or %Z): dates are read without one (pandas reads them zone-aware, "
    "which bounds and other formats are not); write the dates without their zone"
)
WHOLE = "a format holds a whole date (a year, month and day, or a year and day of it)"


@pytest.mark.parametrize(
    ("date_format", "problem"),
    [
        # the reviewer's examples: cleaning failed with AttributeError (.dt of a zone-aware and
        # naive mix), and with ValueError: 'Q' is a bad directive
        (["%Y%m%dT%H%M%S", "%Y-%m-%dT%H:%M:%S%z"], f"'%Y-%m-%dT%H:%M:%S%z' {ZONE}"),
        (
            ["%Y-%m-%d", "%Q"],
            "'%Q' is not a date format that can be read ('Q' is a bad directive in format '%Q')",
        ),
        # one format, not a list, is checked alike
        ("%Y-%m-%dT%H:%M:%S%z", f"'%Y-%m-%dT%H:%M:%S%z' {ZONE}"),
        ("%d/%m/%Y %H:%M %Z", f"'%d/%m/%Y %H:%M %Z' {ZONE}"),
        (
            "%Q",
            "'%Q' is not a date format that can be read ('Q' is a bad directive in format '%Q')",
        ),
        (
            "%Y%m%d%",
            "'%Y%m%d%' is not a date format that can be read (stray % in format '%Y%m%d%')",
        ),
        (
            "%Y-%m-%d %Y",
            "'%Y-%m-%d %Y' is not a date format that can be read (redefinition of "
            "group name 'Y' as group 4; was group 1 at position 91)",
        ),
        (
            "%Y-%m",
            f"'%Y-%m' writes 2001-02-03 as '2001-02', which reads back as 2001-02-01: {WHOLE}",
        ),
        ("%m/%d", f"'%m/%d' writes 2001-02-03 as '02/03', which reads back as 1900-02-03: {WHOLE}"),
        (
            "%Y %U",
            f"'%Y %U' writes 2001-02-03 as '2001 04', which reads back as 2001-01-01: {WHOLE}",
        ),  # pandas: "Cannot use '%W' or '%U' without day and year"
        ("", f"'' writes 2001-02-03 as '', which reads back as 1900-01-01: {WHOLE}"),
    ],
)
def test_a_format_that_cannot_read_dates_is_refused_when_the_profile_loads(
    tmp_path: Path, date_format: Any, problem: str
) -> None:
    path = tmp_path / "kc.yaml"
    path.write_text(yaml.safe_dump(kingcounty(date_format)))
    with pytest.raises(DataError) as info:
        load_profile(path, 2025)
    assert str(info.value) == f"{path}: features[0] (date).format: {problem}"


@pytest.mark.parametrize(
    "date_format",
    [
        *DATE_FORMATS,  # what profile init drafts
        "ISO8601",
        "%d %B %Y",
        "%b %d, %Y %I:%M %p",
        "%Y-%j",  # day of the year
        "%G-W%V-%u",  # ISO week date
        "%y%m%d",
        "%%z %Y-%m-%d",  # the text `%z`, no zone
    ],
)
def test_every_format_the_profile_takes_reads_its_dates_in_pandas(date_format: str) -> None:
    """What the check lets through, pandas (cleaning, batch scoring) reads back to the date."""
    assert check_date_formats(date_format, "sold") == date_format
    days = [dt.datetime(1999, 12, 31, 23, 59), dt.datetime(2014, 10, 13, 1, 2, 3)]
    texts = text(*(written(day, date_format) for day in days))
    values, bad = to_dates(texts, None, date_format)
    assert not bad.any()
    assert values.dt.date.tolist() == [day.date() for day in days]


@pytest.mark.parametrize(
    "formats",
    [
        ISO_AND_US,
        ["%Y-%m-%d", "%d/%m/%Y"],
        ["%Y%m%dT%H%M%S", "ISO8601"],  # King County's and ISO with time
        ["%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
    ],
)
def test_formats_of_different_shapes_go_together(formats: list[str]) -> None:
    assert check_date_formats(formats, "sold") == tuple(formats)


def text(*values: str) -> pd.Series:
    return pd.Series(values, dtype=object)


def test_each_value_is_read_by_the_first_format_that_reads_it() -> None:
    values, bad = to_dates(
        text("2015-03-04", " 03/17/2015 ", "17/03/2015", "", "2015-03-04 10:00"),
        text(False, False, False, True, False).astype(bool),
        ("%Y-%m-%d", "%m/%d/%Y"),
    )
    assert bad.tolist() == [False, False, True, False, True]
    assert values[:2].tolist() == [pd.Timestamp("2015-03-04"), pd.Timestamp("2015-03-17")]
    assert values[2:].isna().all()


def test_cleaning_and_batch_scoring_read_a_mixed_column_alike() -> None:
    profile = profile_from_dict(kingcounty(["%Y%m%dT%H%M%S", "%Y-%m-%d", "%m/%d/%Y"]), 2025)
    column = profile.feature("date")
    texts = ["20141013T000000", "2014-10-14", "10/15/2014", " 2015-01-02 "]
    missing = pd.Series(False, index=range(len(texts)))
    cleaned = parse_dates(text(*texts), missing, column, "kc.csv").dt.date.tolist()
    assert cleaned == [dt.date(2014, 10, 13 + i) for i in range(3)] + [dt.date(2015, 1, 2)]
    example = {c.name: str(c.example) for c in profile.features if c.name != "date"}
    frame = pd.DataFrame([{**example, "date": value} for value in texts])
    good, bad = RowValidator(profile).validate(request_rows(frame, profile))
    assert bad == {}
    assert [row["date"] for row in good] == cleaned


def test_a_date_in_none_of_the_formats_names_them_all() -> None:
    profile = profile_from_dict(kingcounty(ISO_AND_US), 2025)
    column = profile.feature("date")
    missing = pd.Series(False, index=[2, 3])
    with pytest.raises(DataError) as info:
        parse_dates(pd.Series(["2014-10-13", "13/10/2014"], index=[2, 3]), missing, column, "a")
    assert str(info.value) == (
        "a: column 'date' should be a date in formats '%Y-%m-%d' or '%m/%d/%Y' but has 1 "
        "value(s) that are not, e.g. '13/10/2014' (line 3)"
    )
    example = {c.name: str(c.example) for c in profile.features}
    frame = pd.DataFrame([{**example, "date": "13/10/2014"}])
    _, bad = RowValidator(profile).validate(request_rows(frame, profile))
    assert describe_errors(bad[0], {"date": "13/10/2014"}, profile) == (
        "date: Input should be a date in the profile's formats '%Y-%m-%d' or '%m/%d/%Y' such "
        "as '2014-10-13' (got '13/10/2014')"
    )


def test_a_date_is_written_in_the_first_format() -> None:
    day = dt.date(2014, 10, 13)
    assert written(day, ("%m/%d/%Y", "%Y-%m-%d")) == "10/13/2014"
    assert written(day, "ISO8601") == "2014-10-13"
