"""The hand-out plan of `make test` (tests/conftest.py) names real files, each once: a renamed or
deleted file would otherwise drop out of its group or its place in the order without a word."""

from __future__ import annotations

from itertools import combinations

from conftest import GROUPS, HEAVY, TESTS, group_of


def test_every_planned_file_exists() -> None:
    planned = [file for files in GROUPS.values() for file in files] + list(HEAVY)
    assert [file for file in planned if not (TESTS / file).is_file()] == []


def test_no_file_is_planned_twice() -> None:
    for (one, first), (other, second) in combinations(GROUPS.items(), 2):
        assert first.isdisjoint(second), (one, other, first & second)
    assert len(set(HEAVY)) == len(HEAVY)
    assert [file for file in HEAVY if group_of(file) is not None] == []


def test_no_two_test_files_share_a_name() -> None:
    """The tiers are folders without __init__.py: pytest imports each test file by its bare
    name, so a second file of one name fails collection of the whole run."""
    names = sorted(path.name for path in TESTS.rglob("test_*.py"))
    assert sorted({name for name in names if names.count(name) > 1}) == []
