"""Which test rows a champion was trained on, by the rows' values: across a change of the split's
seed, of its test size and of the data file, checked against the rows' raw lines (what the
split itself is made of)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_bundle import PROFILE, REFERENCE_YEAR, tiny_data

from house_price.core.io import read_raw_csv, write_csv
from house_price.core.split import split
from house_price.core.tables import write_table
from house_price.data.cleaning import clean
from house_price.schema import load_profile
from house_price.tracking import trained_rows

LINE = "__line"  # each row's raw line, kept through the split to check the keys against


@pytest.fixture(scope="module")
def columns() -> list[str]:
    return [column.name for column in load_profile(PROFILE, REFERENCE_YEAR).columns]


def cleaned(data: pd.DataFrame, directory: Path) -> pd.DataFrame:
    """The rows as process cleans them, with their raw line as a column."""
    source = directory / "data.csv"
    write_csv(source, data)
    rows, _ = clean(read_raw_csv(source), load_profile(PROFILE, REFERENCE_YEAR), str(source))
    return rows.assign(**{LINE: rows.index})


def train_keys(
    train: pd.DataFrame, columns: list[str], directory: Path
) -> trained_rows.TrainedRows:
    path = directory / "train.parquet"
    write_table(path, train.drop(columns=LINE))  # as process writes it: no line
    return trained_rows.of_table(path, columns)


@pytest.mark.parametrize(
    ("seed", "test_size", "all_unseen"),
    [
        (42, 0.2, True),  # the same split
        (43, 0.2, False),  # another seed
        (7, 0.35, False),  # another seed and test size
        (42, 0.1, True),  # a smaller test split of the same seed: inside the champion's
        (42, 0.3, False),  # a larger one: it takes rows the champion trained on
    ],
    ids=str,
)
def test_the_unseen_rows_are_the_test_rows_the_champion_did_not_train_on(
    tmp_path: Path, columns: list[str], seed: int, test_size: float, all_unseen: bool
) -> None:
    """Champion split: seed 42, 20 %. The challenger's split: the same, another seed, another
    test size. Its unseen test rows are exactly those whose line the champion did not train on."""
    rows = cleaned(tiny_data(), tmp_path)
    champion_train, _ = split(rows, 0.2, 42)
    _, test = split(rows, test_size, seed)
    mask = trained_rows.unseen(test, train_keys(champion_train, columns, tmp_path))
    expected = ~test[LINE].isin(champion_train[LINE]).to_numpy()
    np.testing.assert_array_equal(mask, expected)
    assert mask.all() if all_unseen else 0 < mask.sum() < len(test)


def test_a_changed_data_file_compares_on_new_rows_and_on_the_champion_s_test_rows(
    tmp_path: Path, columns: list[str]
) -> None:
    """Rows appended to the data file, and the file's old rows shuffled: every new row of the
    test split is unseen, and of the old ones those the champion held out."""
    old = tiny_data()
    rows = cleaned(old, tmp_path)
    champion_train, _ = split(rows, 0.2, 42)
    keys = train_keys(champion_train, columns, tmp_path)
    grown = pd.concat([old, tiny_data(rows=300, seed=8)], ignore_index=True)
    grown = grown.sample(frac=1.0, random_state=3).reset_index(drop=True)  # other lines
    _, test = split(cleaned(grown, tmp_path), 0.2, 42)
    columns_only = test[columns]
    was_trained = columns_only.apply(tuple, axis=1).isin(
        champion_train[columns].apply(tuple, axis=1)
    )
    mask = trained_rows.unseen(test, keys)
    np.testing.assert_array_equal(mask, ~was_trained.to_numpy())
    assert was_trained.any()
    assert not was_trained.all()


def test_keys_do_not_depend_on_the_dtype_a_split_was_read_with(columns: list[str]) -> None:
    """An int column and a float one with a missing value, str and object text, dates in any
    unit: one key per value."""
    frame = pd.DataFrame(
        {"n": [1, 2, 3], "t": pd.array(["a", "b", None], dtype="str"), "d": ["2014-12-09"] * 3}
    )
    frame["d"] = pd.to_datetime(frame["d"])
    other = pd.DataFrame(
        {
            "n": [1.0, 2.0, 3.0],
            "t": pd.Series(["a", "b", np.nan], dtype=object),
            "d": frame["d"].astype("datetime64[s]"),
        }
    )
    names = ["n", "t", "d"]
    np.testing.assert_array_equal(
        trained_rows.row_keys(frame, names), trained_rows.row_keys(other, names)
    )
    changed = other.assign(n=[1.0, 2.0, 3.5])
    assert (trained_rows.row_keys(changed, names) != trained_rows.row_keys(frame, names)).sum() == 1
    with pytest.raises(KeyError):
        trained_rows.row_keys(frame, ["n", "absent"])


def test_the_record_round_trips_and_a_foreign_file_is_refused(
    tmp_path: Path, columns: list[str]
) -> None:
    rows = cleaned(tiny_data(), tmp_path)
    recorded = train_keys(rows, columns, tmp_path)
    assert len(recorded.keys) == len(rows)  # no duplicate rows after cleaning: distinct keys
    assert np.all(recorded.keys[1:] > recorded.keys[:-1])  # sorted, distinct
    path = tmp_path / "trained_rows.npz"
    trained_rows.write(path, recorded)
    back = trained_rows.read(path)
    np.testing.assert_array_equal(back.keys, recorded.keys)
    assert back.columns == tuple(columns)
    np.testing.assert_array_equal(back.fingerprint, trained_rows.fingerprint())
    (tmp_path / "other.npz").write_bytes(b"not numpy")
    with pytest.raises((ValueError, OSError)):
        trained_rows.read(tmp_path / "other.npz")
