"""`house-price`: the project's command line. Subcommands:

    house-price profile init <csv> --target <column> [--name NAME] [--output PATH] [--force]
    house-price predict --input houses.csv --output predictions.csv|- [--model DIR]
    house-price check [--params params.yaml]

Bad input (a missing or unreadable file, an unknown target column, an existing output) is one
line `house-price: error: ...` on stderr and exit 1; a usage mistake is argparse's exit 2.
`predict` exits 0 when every row was scored, 1 when some rows are bad (reported on stderr and
in the output's `error` column, the output still written). `--output -` writes the CSV to
stdout and nothing else: every message goes to stderr, so a pipe gets a clean CSV; when the
reader closes the pipe early (`| head`), `predict` stops quietly with exit 141, as a Unix tool
killed by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import sys
from pathlib import Path

from house_price.core.errors import DataError, error_line, escaped

PROG = "house-price"
STDOUT = "-"  # predict --output -: the CSV to stdout (a file named "-" is "./-")
SIGPIPE_EXIT = 128 + 13  # 128 + SIGPIPE: what a shell reports for a writer killed by it
EXTERNAL = Path("data/external")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The house-price project's tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    profile = commands.add_parser("profile", help="dataset profiles (profiles/<name>.yaml)")
    actions = profile.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init",
        help="write a draft profile from a CSV, to review and edit",
        description=(
            "Write a draft profile from a CSV: every column classified, bounds, categories, "
            "examples, derived features, and comments on what to check. Review it before use."
        ),
    )
    init.add_argument("csv", type=Path, help="the data set (CSV with a header row)")
    init.add_argument("--target", required=True, help="the column to predict")
    init.add_argument(
        "--name",
        help="profile name (default: the folder name for data/external/<name>/<file>.csv, "
        "else the CSV's file name, lower case, other characters as _)",
    )
    init.add_argument(
        "--output",
        help=f"where to write (default profiles/<name>.yaml), or {STDOUT} for stdout (messages "
        "stay on stderr; a file named - is ./-)",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing output")
    init.set_defaults(handler=profile_init)
    predict = commands.add_parser(
        "predict",
        help="score a CSV with the model bundle (batch scoring)",
        description=(
            "Score a CSV in the profile's file format with the model bundle, validating each "
            "row by the API's rules. Output: one row per input data row, in order, with the "
            "columns line (the input file line), prediction (empty for a bad row) and error "
            "(empty for a good row). Exit 0: every row scored; 1: some rows bad (listed on "
            "stderr, output written) or a whole-file problem (nothing written); 141: --output - "
            "and the reader closed stdout early (| head)."
        ),
    )
    predict.add_argument("--input", required=True, type=Path, help="the CSV to score")
    predict.add_argument(
        "--output",
        required=True,
        help=f"where to write predictions: a CSV file, or {STDOUT} for stdout (messages stay on "
        "stderr, so a pipe gets a clean CSV; a file named - is ./-)",
    )
    predict.add_argument(
        "--model",
        type=Path,
        default=Path("models/house-price"),
        help="the model bundle directory (default: models/house-price)",
    )
    predict.set_defaults(handler=predict_command)
    check = commands.add_parser(
        "check",
        help="check params.yaml and the profile it selects",
        description=(
            "Check params.yaml and the profile it selects, as every stage does before any work. "
            "DVC runs no stage when the pipeline is up to date, so a mistake in a param no "
            "stage reads (a misspelt key) would otherwise pass unseen; `make run` runs this "
            "first."
        ),
    )
    check.add_argument("--params", type=Path, default=Path("params.yaml"))
    check.set_defaults(handler=check_command)
    return parser


def check_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from house_price.core.stage import load_stage_inputs, profile_path

    params, _ = load_stage_inputs(str(args.params))  # DataError: the one line
    print(f"{PROG}: {args.params} and {profile_path(params)} are valid", file=sys.stderr)
    return 0


MAX_BAD_LINES = 20


def stdout_gone() -> int:
    """The reader of stdout closed it (`| head`): stop quietly, as a Unix tool killed by
    SIGPIPE does. stdout now points to /dev/null, so that Python's flush at exit finds no
    broken pipe to complain about."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SIGPIPE_EXIT


def predict_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from house_price.core.errors import BundleError
    from house_price.serving.batch import predict_csv

    output = None if args.output == STDOUT else Path(args.output)
    try:
        scored = predict_csv(args.input, output, args.model)
    except BrokenPipeError:
        return stdout_gone()
    except PermissionError:
        raise  # main's one line for it, as for every command
    except (BundleError, OSError) as exc:
        raise DataError(str(exc)) from None
    bad = [(line, error) for line, error in zip(scored.lines, scored.errors, strict=True) if error]
    for line, error in bad[:MAX_BAD_LINES]:
        print(f"{args.input}: line {line}: {error}", file=sys.stderr)
    if len(bad) > MAX_BAD_LINES:
        print(f"{args.input}: ... and {len(bad) - MAX_BAD_LINES} more bad rows", file=sys.stderr)
    total = len(scored.lines)
    where = "the predictions to stdout" if output is None else output
    print(
        f"{PROG}: wrote {where}: {total - len(bad)} of {total} rows scored"
        + (f", {len(bad)} bad (see its error column)" if bad else ""),
        file=sys.stderr,
    )
    return 1 if bad else 0


def default_name_and_source(csv: Path) -> tuple[str | None, str | None]:
    """(name, source) when the CSV already lies in data/external/<name>/ under the current
    directory, else (None, None)."""
    try:
        relative = csv.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None, None
    parts = relative.parts
    if len(parts) == 4 and Path(*parts[:2]) == EXTERNAL:
        return parts[2], relative.as_posix()
    return None, None


def profile_init(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from house_price.core.io import atomic_path, read_raw_csv
    from house_price.data.cleaning import repeated_column_error, repeated_columns
    from house_price.drafting import column_list, draft_profile, render, sanitise_name

    if args.name is not None and not NAME.fullmatch(args.name):
        parser.error(f"--name {args.name!r}: use letters, digits, '_', '-' and '.' only")
    folder_name, in_place = default_name_and_source(args.csv)
    name = args.name or folder_name or sanitise_name(args.csv.stem)
    source = in_place if in_place and name == folder_name else None
    source = source or (EXTERNAL / name / args.csv.name).as_posix()
    to_stdout = args.output == STDOUT
    output = Path(args.output or Path("profiles") / f"{name}.yaml")
    if not to_stdout and output.is_dir():
        raise DataError(f"{output}: is a directory; give a file with --output")
    if not to_stdout and output.exists() and not args.force:
        raise DataError(f"{output} exists: use --force to overwrite it, or --name / --output")

    frame = read_raw_csv(args.csv)
    repeated = repeated_columns(frame.columns)  # a profile names each column once
    if repeated:
        name, positions = next(iter(repeated.items()))
        raise repeated_column_error(str(args.csv), name, positions)
    if args.target not in frame.columns:
        close = difflib.get_close_matches(args.target, [str(c) for c in frame.columns], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            f"{args.csv}: --target {args.target!r} is not a column; {hint}"
            f"{column_list(frame.columns)}"
        )
    command = shlex.join([PROG, "profile", "init", *args.argv])
    try:
        draft = draft_profile(frame, args.target, name=name, source=source, command=command)
    except DataError as exc:
        raise DataError(f"{args.csv}: {exc}") from None
    text = render(draft)
    if to_stdout:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            return stdout_gone()
    else:
        with atomic_path(output) as tmp:
            tmp.write_text(text, encoding="utf-8")

    left_out = ", ".join(f"{c.name} ({c.kind})" for c in draft.left_out) or "none"
    print(
        f"{PROG}: wrote {'the draft to stdout' if to_stdout else output}: a DRAFT from "
        f"{len(frame)} rows: "
        f"{len(draft.features)} features, left out: {left_out}, "
        f"{len(draft.profile.get('derived', []))} derived. Review it before use.",
        file=sys.stderr,
    )
    for note in draft.notes:  # values from the file: one line each, whatever they hold
        print(f"{PROG}: {escaped(note)}", file=sys.stderr)
    if not in_place or name != folder_name:
        print(f"{PROG}: copy {args.csv} to {source} (the profile's source)", file=sys.stderr)
    print(f"{PROG}: then run: dvc exp run -S dataset={name}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from house_price.core.io import exit_on_sigterm

    exit_on_sigterm()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv[2:] if argv[:2] == ["profile", "init"] else argv
    try:
        return args.handler(args, parser)
    except (DataError, PermissionError) as exc:
        print(f"{PROG}: error: {error_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
