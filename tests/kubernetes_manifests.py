"""deploy/kubernetes/ as the tests read it: paths, the server's contract the manifests must
honour, and the resources of the kustomization. Shared by the unit tests of the manifests and the
system tests that run the real validators on them."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import yaml
from conftest import REPO

DEPLOY = REPO / "deploy" / "kubernetes"
RULES = REPO / "monitoring" / "rules"
RULE_GENERATOR = REPO / "monitoring" / "prometheusrule.py"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CRD_SCHEMA = REPO / "tools" / "servicemonitor-schema"
INSTALL_HINT = (
    "run `make install-test` (it sets up .venv-checkov/ and tools/servicemonitor-schema/)"
)

# The Prometheus Operator's kinds (CRDs): no schema in kubernetes-validate.
CRD_KINDS = ("ServiceMonitor", "PrometheusRule")

# Oldest supported (first with the preStop sleep action on by default) and newest bundled.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]

# The server's contract (house_price.serve and the API; docs/serving.md).
LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
GRACEFUL_SHUTDOWN_DEFAULT_S = 7  # uvicorn's graceful shutdown when GRACEFUL_SHUTDOWN_S is unset
MEASURED_PEAK_MIB = 180  # one worker, 8 concurrent 10,000-row batches (1 running, 7 waiting)
MEASURED_CONCURRENT_BATCHES = 8
SHUTDOWN_MARGIN_S = 5  # grace period left after preStop + graceful shutdown


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def resources() -> list[dict[str, Any]]:
    """Every resource of the kustomization, in its order."""
    docs = []
    for name in kustomization()["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc)
    return docs


def crd_resources() -> list[dict[str, Any]]:
    return [doc for doc in resources() if doc["kind"] in CRD_KINDS]


def one(kind: str, docs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found = [doc for doc in (docs if docs is not None else resources()) if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} resources"
    return found[0]


def container(deployment: dict[str, Any] | None = None) -> dict[str, Any]:
    containers = (deployment or one("Deployment"))["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]
