"""Every command the docs show exists, and every link between the docs resolves.

For README.md, BENCHMARKS.md and docs/*.md, without running anything: each command of each
```bash block, and each `make`, `dvc`, `house-price` or `python` command written inline, is
checked against what it calls (a `make` target against the Makefile, `house-price` and `dvc`
command lines against their own argument parsers, a `python` script or module against the
tree), every path into the code it names exists, and every relative link (and its #anchor)
resolves. What the commands do is tested where they are run (the pipeline, the API, the remote,
the MLflow commands of docs/pipeline.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from unittest import mock

import pytest
from docs_blocks import FENCE, blocks

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, REPO / "BENCHMARKS.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 200

OPERATORS = {"&&", "||", "|", ";"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Words naming a path inside the project's code: they must exist (data paths need not).
CODE_DIRS = ("stages/", "src/", "scripts/", "bench/", "monitoring/", "deploy/", "sandbox/",
             "tests/", "tools/", "docs/", ".github/", ".ci/")  # fmt: skip
PLACEHOLDER = re.compile(r"[<>*]|\.\.\.")
ONLY_ARGUMENTS_MISSING = "the following arguments are required"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def logical_lines(block: str) -> Iterator[list[str]]:
    """The block's command lines as words: continuation lines joined, comments dropped, a
    quoted string that spans lines kept whole."""
    pending = ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the string goes on on the next line
            continue
        pending = ""
        if words:
            yield words
    assert not pending, f"unclosed quote in: {pending!r}"


def commands(block: str) -> Iterator[list[str]]:
    """Each simple command of the block (split at && || | ;), without leading VAR=value."""
    for words in logical_lines(block):
        command: list[str] = []
        for word in [*words, ";"]:
            if word not in OPERATORS:
                command.append(word)
                continue
            while command and ASSIGNMENT.match(command[0]):
                command.pop(0)
            if command:
                yield command
            command = []


def shown_commands() -> list[tuple[str, list[str]]]:
    return [
        (rel(page), command)
        for page in PAGES
        for block in blocks(page, "bash")
        for command in commands(block)
    ]


def command_id(item: tuple[str, list[str]]) -> str:
    return f"{item[0]}: {' '.join(item[1])[:60]}"


SHOWN = shown_commands()


def makefile_targets() -> set[str]:
    rules = re.findall(r"^([A-Za-z0-9_.-]+)[ \t]*:(?!=)", (REPO / "Makefile").read_text(), re.M)
    return set(rules)


class RefusedError(Exception):
    """What an argument parser said when it refused a command line."""


def refuse(_parser: argparse.ArgumentParser, message: str, *_args: object) -> NoReturn:
    raise RefusedError(message)


def parse_error(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """None when the parser accepts args (or prints its help), else what it said. DVC's parser
    logs its message and raises, argparse's prints and exits: both raise `RefusedError` here."""
    with contextlib.ExitStack() as patches:
        for kind in {argparse.ArgumentParser, type(parser)}:
            patches.enter_context(mock.patch.object(kind, "error", refuse))
        patches.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            parser.parse_args(args)
        except RefusedError as refused:
            return str(refused)
        except SystemExit as stop:  # --help
            return None if stop.code == 0 else f"exit {stop.code}"
    return None


def without_brackets(args: list[str]) -> list[str]:
    """`[--model DIR]` as a usage line writes an optional part: the words without brackets."""
    return [arg.removeprefix("[").removesuffix("]") for arg in args]


def check_command(page: str, command: list[str], whole: bool = True) -> None:
    """What `command` calls exists. A command inline in the text may name a command without
    its arguments (`dvc exp apply`): there, missing arguments are fine, nothing else is."""
    program, args = Path(command[0]).name, command[1:]
    parser: argparse.ArgumentParser | None = None
    if program == "make":
        targets = [arg for arg in args if not arg.startswith("-") and "=" not in arg]
        assert targets, f"{page}: `make` without a target"
        missing = sorted(set(targets) - makefile_targets())
        assert not missing, f"{page}: no Makefile target {missing}"
    elif program == "house-price":
        from house_price.cli import build_parser

        parser, args = build_parser(), without_brackets(args)
    elif program == "dvc":
        from dvc.cli.parser import get_main_parser

        parser = get_main_parser()
    elif program in {"python", "python3"}:
        assert args, f"{page}: bare python"
        if args[0] == "-m":
            assert importlib.util.find_spec(args[1]), f"{page}: no module {args[1]}"
        else:
            assert (REPO / args[0]).is_file(), f"{page}: no script {args[0]}"
    if parser is not None:
        problem = parse_error(parser, args)
        if not whole and problem and problem.startswith(ONLY_ARGUMENTS_MISSING):
            problem = None
        assert problem is None, f"{page}: {program} refuses {args}: {problem}"
    for word in command:
        if word.startswith(CODE_DIRS) and not PLACEHOLDER.search(word):
            assert (REPO / word).exists(), f"{page}: {word} does not exist"


def test_the_docs_show_commands() -> None:
    pages = {page for page, _ in SHOWN}
    assert rel(README) in pages
    programs = {Path(command[0]).name for _, command in SHOWN}
    assert {"make", "dvc", "house-price"} <= programs, programs
    assert {Path(command[0]).name for _, command in INLINE} >= {"make", "dvc", "python"}


@pytest.mark.parametrize("item", SHOWN, ids=command_id)
def test_each_shown_command_exists(item: tuple[str, list[str]]) -> None:
    check_command(*item)


def inline_commands() -> list[tuple[str, list[str]]]:
    """`make ...`, `dvc ...`, `house-price ...` and `python ...` written inline in the text."""
    span = re.compile(r"`((?:\.venv/bin/)?(?:make|dvc|house-price|python3?) [^`]+)`")
    found = []
    for page in PAGES:
        for text in span.findall(FENCE.sub("", page.read_text())):
            found += [(rel(page), command) for command in commands(" ".join(text.split()))]
    return found


INLINE = inline_commands()


@pytest.mark.parametrize("item", INLINE, ids=command_id)
def test_each_inline_command_exists(item: tuple[str, list[str]]) -> None:
    check_command(*item, whole=False)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", page.read_text()), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_slug_is_githubs() -> None:
    assert slug("A team's remote (DVC on S3)") == "a-teams-remote-dvc-on-s3"
    assert slug("CI: reproduce, prove, publish") == "ci-reproduce-prove-publish"
    assert slug("Scale: the `engine` param") == "scale-the-engine-param"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_link_resolves(page: Path) -> None:
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{rel(page)}: link to {target}: no {path}"
        if anchor:
            assert linked.suffix == ".md", f"{rel(page)}: #{anchor} into {path}"
            assert anchor in anchors(linked), f"{rel(page)}: link to {target}: no such heading"


def test_readme_is_short_and_links_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for page in sorted(DOCS.glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"
    assert "(BENCHMARKS.md)" in text


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=rel)
def test_each_page_says_what_it_covers(page: Path) -> None:
    """A title, then one line of what the page covers."""
    title, blank, summary, after = [*page.read_text().splitlines(), "", "", ""][:4]
    assert title.startswith("# "), rel(page)
    assert blank == "", rel(page)
    assert summary, rel(page)
    assert not summary.startswith(("#", "`", "|", "-", "1.")), rel(page)
    assert after == "", f"{rel(page)}: the summary is one line"


# --- what `git add` stages: a file of the repo, or one an earlier step of its block writes ------
# `git add` of a file that nothing makes exits 128 and stages nothing: the docs once said
# `git add data/external/<name>/.gitignore`, which `dvc add` never writes when the root
# .gitignore already ignores the CSV. tests/integration/test_docs_steps.py runs those steps.


def git_ignored(path: str) -> bool:
    """Whether the root .gitignore ignores `path` (pathspec: DVC's own gitignore rules)."""
    import pathspec

    rules = (REPO / ".gitignore").read_text().splitlines()
    return pathspec.GitIgnoreSpec.from_lines(rules).match_file(path)


def written_by(command: list[str]) -> set[str]:
    """The files a documented command writes, which a later `git add` of its block may stage."""
    program, args = Path(command[0]).name, command[1:]
    if program == "dvc" and args[:1] == ["add"]:
        paths = [arg for arg in args[1:] if not arg.startswith("-")]
        # `dvc add` writes a .gitignore naming the file next to it, unless git ignores it already
        ignores = {(Path(p).parent / ".gitignore").as_posix() for p in paths if not git_ignored(p)}
        return {f"{path}.dvc" for path in paths} | ignores
    if program == "dvc" and args[:1] in (["repro"], ["exp"]):
        return {"dvc.lock"}
    if program == "house-price" and args[:2] == ["profile", "init"]:
        from house_price.cli import build_parser, default_name_and_source
        from house_price.drafting import sanitise_name

        parsed = build_parser().parse_args(args)
        folder, _ = default_name_and_source(parsed.csv)
        name = parsed.name or folder or sanitise_name(parsed.csv.stem)
        return {parsed.output or f"profiles/{name}.yaml"}
    return set()


def staging_problems(block: str) -> list[str]:
    """Each `git add` path of `block` that is neither in the repo nor written by an earlier
    command of the block."""
    made: set[str] = set()
    problems = []
    for command in commands(block):
        if Path(command[0]).name == "git" and command[1:2] == ["add"]:
            for path in command[2:]:
                if path.startswith("-") or PLACEHOLDER.search(path):
                    continue
                if path not in made and not (REPO / path).exists():
                    problems.append(f"`git add {path}`: no such file, and no step before writes it")
        made |= written_by(command)
    return problems


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_what_git_add_stages_exists_or_an_earlier_step_writes(page: Path) -> None:
    for block in blocks(page, "bash"):
        assert staging_problems(block) == [], rel(page)


def test_git_add_of_a_file_no_step_writes_is_caught() -> None:
    """The docs' old steps and variants: a CSV that git ignores gets no .gitignore of its own,
    one it does not ignore does; a profile is found under the name profile init gives it."""
    csv = "data/external/kingcounty/kc_house_data.csv"
    old = f"dvc add {csv}\ngit add {csv}.dvc data/external/kingcounty/.gitignore\n"
    gitignore = "`git add data/external/kingcounty/.gitignore`: no such file, and no step before"
    assert staging_problems(old) == [f"{gitignore} writes it"]
    assert len(staging_problems(f"git add {csv}.dvc\ndvc add {csv}")) == 1  # in the wrong order
    assert staging_problems("dvc add notes/survey.xlsx\ngit add notes/.gitignore") == []
    drafted = "house-price profile init data/external/mydata/mydata.csv --target price"
    assert staging_problems(f"{drafted}\ngit add profiles/mydata.yaml") == []
    assert len(staging_problems(f"{drafted} --name other\ngit add profiles/mydata.yaml")) == 1
    assert staging_problems(f"{drafted} --name other\ngit add profiles/other.yaml") == []


# --- derived features: every op the profile format takes is documented, and no other ----------


def documented_ops() -> dict[str, str]:
    """op -> its inputs cell, from docs/own-data.md's table of derived ops."""
    text = (DOCS / "own-data.md").read_text()
    table = re.search(r"^ *\| op \| inputs \| the feature \|\n(?: *\|.*\n)+", text, re.M)
    assert table, "docs/own-data.md: no table `| op | inputs | the feature |`"
    rows = [line.strip().strip("|").split(" | ") for line in table.group(0).splitlines()[2:]]
    ops = {}
    for cells in rows:
        name = re.fullmatch(r"`(\w+)`", cells[0].strip())
        assert name, f"docs/own-data.md: an op row without one `op`: {cells[0]!r}"
        ops[name.group(1)] = cells[1]
    return ops


def test_every_derived_op_is_documented_with_its_inputs() -> None:
    from typing import get_args

    from house_price.core.profile_file import OP_INPUTS, DerivedOp

    documented = documented_ops()
    assert sorted(documented) == sorted(get_args(DerivedOp)) == sorted(OP_INPUTS)
    for op, options in OP_INPUTS.items():
        shown = re.findall(r"`\[([^\]]*)\]`", documented[op])
        assert sorted(len(s.split(",")) for s in shown) == sorted(map(len, options)), op
    assert "`degrees:`" in documented["projection"]
