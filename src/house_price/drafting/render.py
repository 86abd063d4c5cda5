"""The draft as commented YAML: every scalar written so that any YAML 1.1 reader reads back the
same value and type, comments wrapped to the line length, categories with their row counts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from house_price.core.errors import escaped
from house_price.drafting.drafts import ColumnDraft, Draft
from house_price.drafting.wording import plural

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ .()&+/-]*")
_YAML11_WORDS = {
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "none", "nan", "inf", "~",
}  # fmt: skip


def yaml_scalar(value: Any) -> str:
    """One scalar as YAML that every YAML 1.1 reader reads back as the same value and type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
        return text
    text = str(value)
    if (
        _PLAIN.fullmatch(text)
        and text == text.strip()
        and text.casefold() not in _YAML11_WORDS
        and _reads_back(text, text)
    ):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _reads_back(text: str, value: Any) -> bool:
    try:
        return yaml.safe_load(text) == value and type(yaml.safe_load(text)) is type(value)
    except yaml.YAMLError:
        return False


def yaml_flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_flow(item) for item in value) + "]"
    return yaml_scalar(value)


def _comment_lines(lines: Iterable[str], indent: str, width: int = 100) -> list[str]:
    """Comments wrapped to the line length; a wrapped line continues with two spaces. A
    control character a value from the file holds is written as its escape: a line break would
    end the comment, and the rest of the line would be read as YAML."""
    out = []
    for line in lines:
        words = escaped(line).split(" ")
        current = f"{indent}# "
        for word in words:
            if len(current) + len(word) > width and current.strip() != "#":
                out.append(current.rstrip())
                current = f"{indent}#   "
            current += word + " "
        out.append(current.rstrip())
    return out


def _feature_lines(column: ColumnDraft) -> list[str]:
    spec = column.spec or {}
    lines = _comment_lines(column.comments, "  ")
    lines.append(f"  - name: {yaml_scalar(spec['name'])}")
    for key, value in spec.items():
        if key == "name":
            continue
        if key == "categories":
            lines.append("    categories:")
            width = max(len(yaml_scalar(v)) for v in value)
            for item in value:
                count = column.category_counts.get(item, 0)
                lines.append(f"      - {yaml_scalar(item):<{width}}  # {plural(count, 'row')}")
        elif key == "aliases":
            lines.append("    aliases:")
            lines += [f"      {yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()]
        else:
            lines.append(f"    {key}: {yaml_flow(value)}")
    return lines


def render(draft: Draft) -> str:
    """The draft as commented YAML; `yaml.safe_load` of it equals `draft.profile`."""
    profile = draft.profile
    lines = [f"# {draft.header[0]}"]  # the command, whole, to copy
    lines += _comment_lines(draft.header[1:], "")
    lines.append(f"name: {yaml_scalar(profile['name'])}")
    lines.append(f"description: {yaml_scalar(profile['description'])}")
    lines.append(f"source: {yaml_scalar(profile['source'])}")
    lines += _comment_lines(
        ["values that mean missing, in every column (a column may set its own missing_values)"],
        "",
    )
    lines.append(f"missing_values: {yaml_flow(profile['missing_values'])}")
    lines += _comment_lines(draft.target.comments, "")
    lines.append("target:")
    lines += [f"  {key}: {yaml_flow(value)}" for key, value in profile["target"].items()]
    lines.append("features:")
    for column in draft.columns:
        if column.is_feature:
            lines += _feature_lines(column)
        elif column.kind == "leak":
            lines += _comment_lines([column.left_out, *column.comments], "  ")
            lines.append(f"  # - {yaml_flow(column.spec)}")
        else:
            lines += _comment_lines([*column.comments, f"{column.name}: {column.left_out}"], "  ")
    if "derived" in profile:
        lines += _comment_lines(["computed from features, never from the target"], "")
        lines += _comment_lines(draft.derived_comments, "")
        lines.append("derived:")
        lines += [f"  - {yaml_flow(item)}" for item in profile["derived"]]
    elif draft.derived_comments:
        lines += _comment_lines(draft.derived_comments, "")
    return "\n".join(lines) + "\n"
