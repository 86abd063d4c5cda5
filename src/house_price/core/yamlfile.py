"""YAML as the project reads its own files (params.yaml, profiles): YAML 1.2's booleans, numbers
with a leading zero as text (codes such as `01002`), and no repeated keys.

PyYAML implements YAML 1.1, where yes/no/on/off are booleans: `categories: [yes, no]` would
become [True, False], and `log_target: no` would train with False while DVC (YAML 1.2, through
ruamel) records the text 'no'. Here only true/false are booleans, as in YAML 1.2 and DVC. A key
written twice in one mapping is refused (PyYAML keeps the last one silently), so a profile with
two `max:` lines cannot quietly drop rows by the bound the user did not mean.
"""

from __future__ import annotations

import re
from typing import IO, Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

MERGE_TAGS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (true/false only; yes/no/on/off are text)
    that refuses a mapping's repeated key."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag in MERGE_TAGS:  # `<<: *base` merges; an explicit key may override it
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in first_line
            except TypeError:  # an unhashable key: SafeLoader names it below
                continue
            if repeated:
                raise ConstructorError(
                    None,
                    None,
                    f"repeated key {key!r} (first on line {first_line[key] + 1}): keep one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# A number written with a leading zero is text: PyYAML (YAML 1.1) reads `01002` as the octal
# 514, DVC (YAML 1.2) as 1002, and the writer of `categories: [01002, 02134]` meant zip codes.
LEADING_ZERO = ("tag:yaml.org,2002:str", re.compile(r"^[-+]?0[0-9_]+$"))
for first in "-+0":
    Loader.yaml_implicit_resolvers[first] = [LEADING_ZERO, *Loader.yaml_implicit_resolvers[first]]


def load_yaml(stream: str | IO[str]) -> Any:
    """One YAML document read with `Loader`. Raises yaml.YAMLError (a ConstructorError with the
    line for a repeated key)."""
    return yaml.load(stream, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
