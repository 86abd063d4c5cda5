"""File I/O shared by the stages: atomic writes, hashing and clean CSV errors."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from house_price.core.csvshape import delimiter_problem, parser_error_place, records
from house_price.core.errors import DataError, first_line

# The raw directory ingest writes: the data (data.csv, or partitions/ on the Dask engine) and
# source.json, where it came from.
RAW_CSV, RAW_PARTITIONS, SOURCE_INFO = "data.csv", "partitions", "source.json"
RAW_LINE = "__raw_line__"  # the raw partitions' index: each row's line in the source CSV

if TYPE_CHECKING:  # imported where used: the API reads JSON through here without pandas
    import pandas as pd


def umask() -> int:
    """The process's file mode creation mask. Reading it means setting it, so it is set straight
    back (Linux's /proc/self/status shows it without that, where it exists)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def writable_parent(target: Path) -> None:
    """Create `target`'s directory; DataError naming the path in the way when a file is,
    PermissionError naming `target` when this user may not create files in the directory."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (
                p
                for p in reversed(target.parents)
                if not p.is_dir() and (p.exists() or p.is_symlink())
            ),
            target.parent,
        )  # a file, or a symlink to nowhere
        raise DataError(f"{target}: cannot be written: {blocker} is not a folder") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        # named by the output, not by the temporary file that could not be made beside it
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))


def exit_on_sigterm() -> None:
    """Turn SIGTERM (timeout, a scheduler, Kubernetes) into SystemExit(143), so that the
    `finally` of atomic_path and atomic_dir removes their temporary files, as on an exception."""

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def not_regular(path: Path) -> bool:
    """Whether `path` exists (through a symlink) as something other than a regular file: a
    folder, device, pipe or socket."""
    return path.exists() and not path.is_file()


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only on success.

    A crash (or an exception) leaves no file that looks complete under the final name.
    DataError for a target that is a symlink or a device, pipe or socket: the rename would
    replace the link or the device (/dev/stdout, /dev/null) with a file, and writing through a
    link could rewrite what it points to (a DVC cache file, with `cache.type: symlink`).
    """
    target = Path(target)
    if target.is_symlink():
        raise DataError(f"{target}: is a symlink: give the path of a file, not of a link")
    if not_regular(target) and not target.is_dir():  # a folder (the other engine's) is replaced
        raise DataError(f"{target}: not a regular file (a device, pipe or socket): give a file")
    writable_parent(target)
    # Keep the suffix: some writers (XGBoost, pandas) pick the format from it.
    suffix = f".tmp{target.suffix}"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes it owner-only; the output gets the mode any new file would (0644 under
        # umask 022), so a service account or a container user can read it
        tmp_path.chmod(0o666 & ~umask())
        if target.is_dir():  # the other engine's output under the same name
            shutil.rmtree(target)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Like `atomic_path` for a directory: build it under a temporary name, then swap it in."""
    target = Path(target)
    writable_parent(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o777 & ~umask())  # as atomic_path: a new directory's mode, not mkdtemp's 0700
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        else:  # the other engine's output under the same name
            target.unlink(missing_ok=True)
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


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def file_md5(path: str | Path) -> str:
    """The MD5 of a file's bytes; of a directory (a partitioned table), the MD5 of its files'
    relative paths and MD5s, one `path md5` line each in path order."""
    path = Path(path)
    if path.is_dir():
        lines = [
            f"{file.relative_to(path).as_posix()} {file_md5(file)}\n"
            for file in sorted(item for item in path.rglob("*") if item.is_file())
        ]
        return hashlib.md5("".join(lines).encode(), usedforsecurity=False).hexdigest()
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# read_raw_csv's parser settings: every field a string, the header read as a row
RAW_CSV_OPTIONS: dict[str, Any] = {
    "dtype": str,
    "header": None,  # the header row is read as data: pandas would rename repeats
    "keep_default_na": False,
    "na_filter": False,
    "skip_blank_lines": True,
    "encoding": "utf-8-sig",  # a byte-order mark is no part of the first column's name
}


BINARY_SNIFF_BYTES = 65536  # a binary file shows a NUL byte within its first block


def _check_file(path: Path) -> None:
    if not_regular(path):
        raise DataError(f"{path}: not a regular file (a folder, device or pipe): give a CSV file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    with path.open("rb") as handle:
        start = handle.read(BINARY_SNIFF_BYTES)
    if b"\0" in start:  # no text CSV holds one; a binary file (xlsx, parquet, gzip) does at once
        line = start[: start.index(b"\0")].count(b"\n") + 1
        raise DataError(
            f"{path}: not a UTF-8 text CSV (a NUL byte on line {line}: a binary file such as "
            ".xlsx, .parquet or .gz, or UTF-16 text? save it as a UTF-8 CSV)"
        )
    delimited = delimiter_problem(start, cut=len(start) == BINARY_SNIFF_BYTES)
    if delimited:
        raise DataError(f"{path}: {delimited}")


@contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """Every way pandas finds a CSV unreadable, as one DataError line."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (no header row)") from None
    except UnicodeDecodeError as exc:
        place = _decode_error_place(path, exc)
        raise DataError(f"{path}: not a UTF-8 text CSV ({place})") from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path}: not a valid CSV ({parser_error_place(path, first_line(exc))})"
        ) from None


def _with_header(frame: pd.DataFrame, header: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """(the data rows of a chunk read with RAW_CSV_OPTIONS, named by the header; the header),
    the header taken from the chunk's first row when not known yet."""
    frame = frame.fillna("")  # the absent fields of a short row are empty fields
    if header is None:
        header = [str(name).strip() for name in frame.iloc[0]]
        frame = frame.iloc[1:]
    frame.columns = header
    return frame, header


def read_raw_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV as text, turning every way it can be unreadable into a DataError.

    Every field stays a string ("" when empty): no missing-value spelling is implied (pandas'
    default list would read a category spelled `None` or `NA` as missing); the profile
    declares them. Header names are trimmed and kept as written, repeats included, so that
    validation can refuse a repeated column by name. Rows are indexed by their file line.
    """
    import pandas as pd

    path = Path(path)
    _check_file(path)
    with _csv_errors(path):
        frame = pd.read_csv(path, **RAW_CSV_OPTIONS)
    if len(frame) < 2:
        raise DataError(f"{path}: no data rows (header only)")
    frame, _ = _with_header(frame, None)
    lines = _row_starts(path)
    next(lines)  # the header's
    frame.index = _row_lines(frame, lines)
    return frame


def raw_fields(frame: pd.DataFrame, first_line: int) -> pd.DataFrame:
    """`frame` as `read_raw_csv` reads back the CSV `write_csv` makes of it (every field the
    same string), its rows numbered from `first_line`: the Dask engine's raw partitions of
    generated data hold exactly what the pandas engine's data.csv holds."""
    import io

    import pandas as pd

    text = io.StringIO(frame.to_csv(index=False, lineterminator="\n"))
    fields, _ = _with_header(pd.read_csv(text, **RAW_CSV_OPTIONS), None)
    fields.index = pd.RangeIndex(first_line, first_line + len(fields))
    return fields


def iter_raw_csv(path: str | Path, rows: int) -> Iterator[pd.DataFrame]:
    """`read_raw_csv` in chunks of at most `rows` data rows, memory holding one chunk (the
    Dask engine's ingest): the same rows, line numbers and DataError lines."""
    import pandas as pd

    path = Path(path)
    _check_file(path)
    lines = _row_starts(path)
    header: list[str] | None = None
    count = 0
    with _csv_errors(path), pd.read_csv(path, chunksize=rows, **RAW_CSV_OPTIONS) as reader:
        for chunk in reader:
            if header is None:
                next(lines)
            frame, header = _with_header(chunk, header)
            frame.index = _row_lines(frame, lines)
            count += len(frame)
            if len(frame):
                yield frame
    if not count:
        raise DataError(f"{path}: no data rows (header only)")


def _row_lines(frame: pd.DataFrame, lines: Iterator[int]) -> pd.Index:
    """The file line (from 1) where each row of `frame` starts, taken from `lines` (`_row_starts`,
    positioned after the previous row's): errors then point into the file when blank lines were
    skipped or a field spans lines."""
    import pandas as pd

    return pd.Index(list(itertools.islice(lines, len(frame))), dtype="int64")


def _row_starts(path: Path) -> Iterator[int]:
    """The line each row of the file starts on (`csvshape.records`, as pandas splits rows), then
    the numbers after its last line, without end: were pandas to split a row the scan does not,
    the rows after it would still be numbered, not refused with a traceback."""
    last = 0
    for record in records(path):
        yield record.line
        last = record.end
    yield from itertools.count(last + 1)


def _decode_error_place(path: Path, exc: UnicodeDecodeError) -> str:
    """`line 5123, byte 17: invalid start byte`: where the first invalid UTF-8 byte is in the
    file (pandas reports an offset inside one of its read buffers). Read as Latin-1, a character
    per byte, for lines split as `csvshape.records` splits them (a bare CR ends one too)."""
    with open(path, encoding="latin-1", newline="") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError as error:
                return f"line {number}, byte {error.start + 1}: {error.reason}"
    return exc.reason
