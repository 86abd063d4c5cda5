"""What a draft is made of: a `ColumnDraft` per column, and the whole `Draft`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class ColumnDraft:
    """What the draft says about one column: a feature mapping (`spec`), or why it is left out,
    with the comments written above it and the notes for stderr."""

    name: str
    kind: str  # float, int, category, date; or left out: empty, id, text, leak
    spec: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)
    category_counts: dict[str, int] = field(default_factory=dict)
    left_out: str = ""
    notes: list[str] = field(default_factory=list)
    numbers: pd.Series | None = None  # for the leak check

    @property
    def is_feature(self) -> bool:
        return self.spec is not None and not self.left_out


@dataclass
class Draft:
    """A draft profile: `profile` is exactly what the rendered YAML parses to."""

    profile: dict[str, Any]
    header: list[str]
    target: ColumnDraft
    columns: list[ColumnDraft]
    derived_comments: list[str]
    notes: list[str]  # for stderr

    @property
    def features(self) -> list[ColumnDraft]:
        return [column for column in self.columns if column.is_feature]

    @property
    def left_out(self) -> list[ColumnDraft]:
        return [column for column in self.columns if not column.is_feature]
