"""deploy/kubernetes/ checked by the real tools that run as processes (the manifests' structure
and their agreement with the server's contract are unit-tested in
tests/unit/deploy/test_kubernetes.py):

- the kubernetes-validate CLI validates every file strictly;
- the ServiceMonitor and the PrometheusRules are validated against the Prometheus Operator's CRD
  schemas, compiled by the npm package @kubernetes-models/prometheus-operator
  (tools/servicemonitor-schema/, make install-test), with node;
- prometheusrule.yaml is what monitoring/prometheusrule.py generates from monitoring/rules/;
- checkov (its own venv, .venv-checkov/, make install-test) finds nothing; its only skips are
  `checkov.io/skipN` annotations that give a reason.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import REPO
from kubernetes_manifests import (
    CHECKOV,
    CRD_SCHEMA,
    DEPLOY,
    INSTALL_HINT,
    KUBERNETES_VERSIONS,
    RULE_GENERATOR,
    RULES,
    container,
    crd_resources,
    kustomization,
    one,
    resources,
)
from servers import clean_env


def prometheus_rules() -> list[dict[str, Any]]:
    return [doc for doc in resources() if doc["kind"] == "PrometheusRule"]


def skip_annotations() -> dict[str, str]:
    """checkov.io/skipN annotations of every resource: check id -> reason."""
    skips = {}
    for doc in resources():
        annotations = doc["metadata"].get("annotations", {})
        for key, value in annotations.items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert re.fullmatch(r"CKV2?_K8S_\d+", check), value
                assert len(reason.split()) >= 5, f"{check}: give a reason ({value!r})"
                skips[check] = reason
    return skips


def run_checkov(directory: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} missing; {INSTALL_HINT}")
    result = subprocess.run(
        # --skip-download: offline (no guideline or policy download)
        [
            *(str(CHECKOV), "-d", str(directory), "--framework", "kubernetes"),
            *("--quiet", "--compact", "--output", "json", "--skip-download"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: failed checks
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "one framework, one report"
    assert report["check_type"] == "kubernetes"
    return report


def validate_crd_resources(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node missing (Node.js 20 or later)")
    if not (CRD_SCHEMA / "node_modules" / "@kubernetes-models" / "prometheus-operator").is_dir():
        pytest.fail(f"{CRD_SCHEMA}/node_modules missing; {INSTALL_HINT}")
    return subprocess.run(
        [node, "validate.mjs"],
        cwd=CRD_SCHEMA,
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_validates_every_file_strictly() -> None:
    """The same through the tool's command line, as a user would run it."""
    cli = Path(kubernetes_validate.__file__).parents[4] / "bin" / "kubernetes-validate"
    assert cli.exists(), cli
    files = [str(DEPLOY / name) for name in kustomization()["resources"]]
    result = subprocess.run(
        [str(cli), "--strict", "-k", KUBERNETES_VERSIONS[0], *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    crds = crd_resources()
    assert result.stdout.count("INFO ") == len(resources()) - len(crds)
    assert "ERROR" not in result.stdout
    # the resources it cannot check: the CRD kinds (next tests)
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    kinds = [re.search(r"\b(ServiceMonitor|PrometheusRule)\b", line) for line in warnings]
    assert all(kinds), warnings
    assert sorted(kind[1] for kind in kinds) == sorted(doc["kind"] for doc in crds), warnings


def test_servicemonitor_matches_the_prometheus_operator_crd_schema() -> None:
    monitor = one("ServiceMonitor")
    result = validate_crd_resources([monitor])
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {"name": monitor["metadata"]["name"], "errors": []}


def test_crd_schema_validation_catches_bad_fields() -> None:
    broken = copy.deepcopy(one("ServiceMonitor"))
    endpoint = broken["spec"]["endpoints"][0]
    endpoint["port"] = 8000  # must be the port's name (a string)
    endpoint["interval"] = "30 seconds"  # a Prometheus duration
    endpoint["scheme"] = "ftp"  # http or https
    result = validate_crd_resources([broken])
    assert result.returncode == 1, result.stdout + result.stderr
    errors = json.loads(result.stdout)["errors"][0]
    for field in ("port", "interval", "scheme"):
        assert f"/spec/endpoints/0/{field}" in errors, errors


def test_prometheusrules_match_the_prometheus_operator_crd_schema() -> None:
    rules = prometheus_rules()
    result = validate_crd_resources(rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"name": doc["metadata"]["name"], "errors": []} for doc in rules
    ]


def test_crd_schema_validation_catches_bad_rules() -> None:
    broken = copy.deepcopy(prometheus_rules()[0])
    group = broken["spec"]["groups"][0]
    group["rules"][0]["for"] = "2 minutes"  # a Prometheus duration
    del group["rules"][1]["expr"]  # required
    group["name"] = ""  # at least one character
    result = validate_crd_resources([broken])
    assert result.returncode == 1, result.stdout + result.stderr
    errors = json.loads(result.stdout)["errors"][0]
    for where in ("/spec/groups/0/rules/0/for", "/spec/groups/0/rules/1", "/spec/groups/0/name"):
        assert where in errors, errors
    assert "required property expr" in errors


def test_prometheusrule_yaml_is_generated_from_the_rules_files() -> None:
    """The committed file is the generator's output, byte for byte, and each rules file is one
    PrometheusRule with exactly its groups: a cluster loads the alerts monitoring/tests/ tests."""
    result = subprocess.run(
        [sys.executable, str(RULE_GENERATOR), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all((DEPLOY / "prometheusrule.yaml").read_text()))
    assert {doc["kind"] for doc in docs} == {"PrometheusRule"}
    monitor = one("ServiceMonitor")["metadata"]
    by_name = {doc["metadata"]["name"]: doc for doc in docs}
    files = sorted(RULES.glob("*.yml"))
    assert len(by_name) == len(docs) == len(files)
    for path in files:
        doc = by_name[f"{monitor['name']}-{path.stem}"]
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert doc["spec"] == {"groups": yaml.safe_load(path.read_text())["groups"]}, path.name
        names = [group["name"] for group in doc["spec"]["groups"]]
        assert len(names) == len(set(names)), f"{path.name}: a group name repeats"
        # selected as the ServiceMonitor is (a Prometheus' ruleSelector and
        # serviceMonitorSelector match the same labels), in the same namespace
        assert doc["metadata"]["labels"] == monitor["labels"]
        assert doc["metadata"]["namespace"] == monitor["namespace"]


def test_a_changed_rule_makes_prometheusrule_yaml_stale(tmp_path: Path) -> None:
    """The check above can fail: the generator on a copy whose 5xx alert threshold changed. Its
    message says what to run; the rewrite renames a complete file over the old one (atomic_path)
    instead of truncating it in place: a reader with the old file open reads all of it."""
    for part in ("monitoring/prometheusrule.py", "monitoring/rules", "deploy/kubernetes"):
        source, target = REPO / part, tmp_path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    alerts = tmp_path / "monitoring" / "rules" / "alerts.yml"
    text = alerts.read_text()
    assert text.count("} > 0.05\n") == 1
    alerts.write_text(text.replace("} > 0.05\n", "} > 0.06\n"))
    generator = [sys.executable, str(tmp_path / "monitoring" / "prometheusrule.py")]
    stale = subprocess.run([*generator, "--check"], capture_output=True, text=True, timeout=60)
    output = tmp_path / "deploy" / "kubernetes" / "prometheusrule.yaml"
    assert stale.returncode == 1
    assert stale.stderr == (
        f"{output}: not generated from the rules files: run "
        "`.venv/bin/python monitoring/prometheusrule.py`\n"
    )
    old = output.read_text()
    with open(output) as reader:
        subprocess.run(generator, check=True, timeout=60)
        assert reader.read() == old
    regenerated = output.read_text()
    assert sorted(path.name for path in output.parent.glob("*prometheusrule.yaml*")) == [
        "prometheusrule.yaml"
    ]  # no temporary file left
    assert '{job="house-price-api"} > 0.06\n' in regenerated


def test_checkov_finds_nothing() -> None:
    report = run_checkov(DEPLOY)
    summary = report["summary"]
    assert report["results"]["failed_checks"] == [], json.dumps(report, indent=1)[:4000]
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 80, summary  # the Deployment's pod checks ran
    # every skip is an annotation with a reason; nothing else is skipped
    assert summary["skipped"] == len(skip_annotations())


def test_checkov_fails_an_insecure_copy(tmp_path: Path) -> None:
    copy_dir = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy_dir)
    path = copy_dir / "deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    security = container(deployment)["securityContext"]
    security["readOnlyRootFilesystem"] = False
    security["allowPrivilegeEscalation"] = True
    del security["capabilities"]
    path.write_text(yaml.safe_dump(deployment))
    report = run_checkov(copy_dir)
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert {"CKV_K8S_22", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_37"} <= failed, failed
