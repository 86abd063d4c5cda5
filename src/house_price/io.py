"""File I/O shared by the stages: atomic writes, hashing and clean CSV errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from house_price.errors import DataError

if TYPE_CHECKING:  # imported where used: the API reads JSON through here without pandas
    import pandas as pd


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only on success.

    A crash (or an exception) leaves no file that looks complete under the final name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: some writers (XGBoost, pandas) pick the format from it.
    suffix = f".tmp{target.suffix}"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Like `atomic_path` for a directory: build it under a temporary name, then swap it in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, data: Any, sort_keys: bool = True) -> None:
    """`data` as indented JSON, written atomically; keys sorted unless `sort_keys` is False
    (the caller's order is then kept: DVC shows metrics in file order)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=sort_keys, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_table(path: str | Path, frame: pd.DataFrame) -> None:
    """Parquet keeps dtypes exact and is fast at a million rows; written atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")


def read_table(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path, engine="pyarrow")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_raw_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV as text, turning every way it can be unreadable into a DataError.

    Every field stays a string ("" when empty): no missing-value spelling is implied (pandas'
    default list would read a category spelled `None` or `NA` as missing); the profile
    declares them. Header names are trimmed and kept as written, repeats included, so that
    validation can refuse a repeated column by name. Rows are indexed by their file line.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            header=None,  # the header row is read as data: pandas would rename repeats
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            encoding="utf-8-sig",  # a byte-order mark is no part of the first column's name
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (no header row)") from None
    except UnicodeDecodeError as exc:
        place = _decode_error_place(path, exc)
        raise DataError(f"{path}: not a UTF-8 text CSV ({place})") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV ({_first_line(exc)})") from None
    if len(frame) < 2:
        raise DataError(f"{path}: no data rows (header only)")
    frame = frame.fillna("")  # the absent fields of a short row are empty fields
    header = [str(name).strip() for name in frame.iloc[0]]
    frame = frame.iloc[1:]
    frame.columns = header
    frame.index = _data_line_numbers(path, len(frame))
    return frame


def _decode_error_place(path: Path, exc: UnicodeDecodeError) -> str:
    """`line 5123, byte 17: invalid start byte`: where the first invalid UTF-8 byte is in the
    file (pandas reports an offset inside one of its read buffers)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return f"line {number}, byte {error.start + 1}: {error.reason}"
    return exc.reason


def _data_line_numbers(path: Path, rows: int) -> pd.Index:
    """The file line (from 1) of each data row, so errors can point into the file even when
    blank lines were skipped. Falls back to header-on-line-1 counting when a quoted field
    spans lines and the two counts disagree."""
    import pandas as pd

    with open(path, "rb") as handle:
        lines = [number for number, line in enumerate(handle, 1) if line.strip()]
    if len(lines) - 1 != rows:
        return pd.RangeIndex(2, rows + 2)
    return pd.Index(lines[1:])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
