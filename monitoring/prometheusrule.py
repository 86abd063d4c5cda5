"""Generate deploy/kubernetes/prometheusrule.yaml from the rules files of monitoring/rules/.

    .venv/bin/python monitoring/prometheusrule.py            # rewrite it
    .venv/bin/python monitoring/prometheusrule.py --check    # exit 1 if it is not up to date

With the Prometheus Operator, Prometheus evaluates the rules of PrometheusRule resources, not
files: the ServiceMonitor alone gets the API scraped and no rule loaded. Each rules file becomes
one `monitoring.coreos.com/v1` PrometheusRule whose `spec.groups` are the file's `groups`,
unchanged (one resource per file: both files have a group `house-price-latency-slo`, and group
names must be unique within a resource). Namespace and labels are the ServiceMonitor's
(deploy/kubernetes/servicemonitor.yaml), so the label that lets a Prometheus select the
ServiceMonitor lets it select the rules too. The output is committed, and a test checks that
this script reproduces it byte for byte and that its groups are the rules files'. The file is
written atomically (a temporary file renamed over it): an interrupted run leaves the old one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from house_price.core.io import atomic_path  # the package, installed editable in .venv

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "monitoring" / "rules"
DEPLOY = REPO / "deploy" / "kubernetes"
OUT = DEPLOY / "prometheusrule.yaml"

HEADER = """\
# Generated from monitoring/rules/*.yml by monitoring/prometheusrule.py: do not edit. Edit the
# rules (and their unit tests in monitoring/tests/), run
# `.venv/bin/python monitoring/prometheusrule.py`, commit both (a test regenerates and compares).
# Prometheus Operator: the recording and alerting rules, one PrometheusRule per rules file.
# Namespace and labels are servicemonitor.yaml's (change them there, then regenerate): your
# Prometheus resource's ruleSelector must match them as its serviceMonitorSelector does
# (kube-prometheus-stack: `release: <its Helm release name>`), and its ruleNamespaceSelector
# must take this namespace.
"""


class Dumper(yaml.SafeDumper):
    """The repo's YAML style: sequences indented under their key, PromQL spanning several lines
    as a literal block (`|`), as in the rules files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


Dumper.add_representer(str, _string)


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yml"))


def resources() -> list[dict[str, Any]]:
    """One PrometheusRule per rules file, named `<ServiceMonitor's name>-<file stem>`."""
    monitor = yaml.safe_load((DEPLOY / "servicemonitor.yaml").read_text())["metadata"]
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": f"{monitor['name']}-{path.stem}",
                "namespace": monitor["namespace"],
                "labels": monitor["labels"],
            },
            "spec": {"groups": yaml.safe_load(path.read_text())["groups"]},
        }
        for path in rule_files()
    ]


def render() -> str:
    documents = yaml.dump_all(
        resources(), Dumper=Dumper, sort_keys=False, explicit_start=True, width=1000
    )
    return HEADER + documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(
                f"{OUT}: not generated from the rules files: run "
                "`.venv/bin/python monitoring/prometheusrule.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    with atomic_path(OUT) as tmp:
        tmp.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
