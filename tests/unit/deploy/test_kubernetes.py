"""deploy/kubernetes/ checked offline by real tools and tied to the server's contract.

- kubernetes-validate (requirements-dev.txt) validates every built-in resource strictly (unknown
  fields rejected) against the bundled Kubernetes API schemas of the oldest supported version
  (1.30: the preStop `sleep` action is beta and on by default from 1.30) and of the newest one
  it bundles. It has no schema for the ServiceMonitor and the PrometheusRules (CRDs): it
  reports them as not found.
- The ServiceMonitor and the PrometheusRules are validated against the Prometheus Operator's CRD
  schemas, compiled by the npm package @kubernetes-models/prometheus-operator
  (tools/servicemonitor-schema/, make install-test).
- prometheusrule.yaml is what monitoring/prometheusrule.py generates from monitoring/rules/: one
  PrometheusRule per rules file, its groups the file's, with the ServiceMonitor's labels.
- checkov (its own venv, .venv-checkov/, make install-test) finds nothing; its only skips are
  `checkov.io/skipN` annotations that give a reason.
- The manifests agree with the server contract: probe paths and port (each a probe the server
  answers however many connections are held), shutdown timing, threads and CPU, memory and the
  measured peak, the image's user, labels and selectors, the job label the alerts query.
"""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
import yaml
from conftest import REPO
from kubernetes_manifests import (
    CRD_KINDS,
    DEPLOY,
    GRACEFUL_SHUTDOWN_DEFAULT_S,
    KUBERNETES_VERSIONS,
    LIVENESS_PATH,
    MEASURED_CONCURRENT_BATCHES,
    MEASURED_PEAK_MIB,
    METRICS_PATH,
    READINESS_PATH,
    RULES,
    SHUTDOWN_MARGIN_S,
    container,
    crd_resources,
    kustomization,
    one,
    resources,
)

from house_price.api.routes.health import PROBE_METHODS, PROBE_PATHS


def env(name: str) -> str | None:
    values = {item["name"]: item.get("value") for item in container().get("env", [])}
    return values.get(name)


def quantity(value: str | int) -> float:
    """A Kubernetes quantity as a number: CPU in cores, memory in MiB."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def dockerfile_user() -> tuple[int, int]:
    text = (REPO / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+):(\d+)\s*$", text, re.MULTILINE)
    assert len(user) == 1, "the Dockerfile has one numeric USER uid:gid"
    created = re.search(r"useradd\b.*--uid\s+(\d+)", text)
    assert created is not None
    assert created.group(1) == user[0][0]
    return int(user[0][0]), int(user[0][1])


# --- kubernetes-validate ------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_in_one_namespace() -> None:
    kust = kustomization()
    files = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kust["resources"]) == sorted(files)
    kinds = [doc["kind"] for doc in resources()]
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert kinds.count(kind) == 1, kind
    assert kinds.count("ServiceMonitor") == 1
    assert kinds.count("PrometheusRule") == len(list(RULES.glob("*.yml")))
    # each file names the namespace too (checkov and a plain `kubectl apply -f` see the files)
    for doc in resources():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == kust["namespace"]
        else:
            assert doc["metadata"]["namespace"] == kust["namespace"], doc["kind"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_resources_validate_strictly(version: str) -> None:
    validated = []
    for doc in resources():
        if doc["kind"] in CRD_KINDS:
            with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
                kubernetes_validate.validate(doc, version, strict=True)
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        validated.append(doc["kind"])
    assert len(validated) == len(resources()) - len(crd_resources())


def test_strict_validation_catches_a_misspelt_field_and_a_too_old_version() -> None:
    """The validation above can fail: an unknown field, and the preStop sleep action on a
    Kubernetes version whose API does not have it (1.28)."""
    deployment = one("Deployment")
    broken = copy.deepcopy(deployment)
    probe = container(broken).pop("readinessProbe")
    container(broken)["readynessProbe"] = probe
    with pytest.raises(kubernetes_validate.ValidationError, match="readynessProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    with pytest.raises(kubernetes_validate.ValidationError, match="sleep"):
        kubernetes_validate.validate(deployment, "1.28.0", strict=True)


# --- the server contract ------------------------------------------------------------------------


def test_probes_use_the_servers_endpoints_on_its_port() -> None:
    api = container()
    (port,) = api["ports"]
    assert port["containerPort"] == int(env("PORT")) == 8000
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^EXPOSE 8000$", dockerfile, re.MULTILINE)
    assert re.search(r"^\s+PORT=8000\b", dockerfile, re.MULTILINE)
    expected = {
        "startupProbe": LIVENESS_PATH,
        "livenessProbe": LIVENESS_PATH,
        "readinessProbe": READINESS_PATH,
    }
    assert "GET" in PROBE_METHODS
    for probe, path in expected.items():
        check = api[probe]["httpGet"]
        assert check["path"] == path, probe
        # The kubelet probes with GET; a path outside PROBE_PATHS would be refused 503 while
        # MAX_CONNECTIONS connections are busy, and the pod restarted or taken out.
        assert path in PROBE_PATHS, probe
        assert check["port"] in (port["name"], port["containerPort"]), probe
        # a probe that times out is a failure: the timeout is below the period
        assert api[probe]["timeoutSeconds"] <= api[probe]["periodSeconds"], probe
    # liveness only starts after startup succeeded: startup allows a minute at least
    startup = api["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_shutdown_fits_the_grace_period() -> None:
    """SIGTERM comes after the preStop sleep; uvicorn then takes up to GRACEFUL_SHUTDOWN_S;
    SIGKILL comes terminationGracePeriodSeconds after the start of it all."""
    pod = one("Deployment")["spec"]["template"]["spec"]
    pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(env("GRACEFUL_SHUTDOWN_S") or GRACEFUL_SHUTDOWN_DEFAULT_S)
    assert pre_stop >= 3, "endpoint removal needs a few seconds to reach every proxy"
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + graceful + SHUTDOWN_MARGIN_S
    # the managed platforms' 10 s SIGTERM-to-SIGKILL window (docs/deployment.md) holds the
    # graceful part
    assert graceful < 10


def test_threads_and_workers_match_the_cpu_limit() -> None:
    resources_ = container()["resources"]
    cpu_limit = quantity(resources_["limits"]["cpu"])
    assert cpu_limit == int(cpu_limit), "a whole number of cores, as MODEL_THREADS is"
    assert int(env("MODEL_THREADS")) == cpu_limit
    workers = int(env("WEB_CONCURRENCY"))
    assert 1 <= workers <= cpu_limit
    assert quantity(resources_["requests"]["cpu"]) <= cpu_limit


def test_memory_covers_the_measured_peak() -> None:
    resources_ = container()["resources"]
    workers = int(env("WEB_CONCURRENCY"))
    request = quantity(resources_["requests"]["memory"])
    limit = quantity(resources_["limits"]["memory"])
    assert request >= MEASURED_PEAK_MIB * workers * 1.25
    assert limit >= request
    assert limit <= 4 * MEASURED_PEAK_MIB * workers, "a leak should still hit the limit"
    # the peak was measured with one batch running and 7 waiting: no more may wait
    assert int(env("MAX_PENDING_BATCHES")) + 1 <= MEASURED_CONCURRENT_BATCHES


def test_the_container_is_locked_down() -> None:
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    api = container(deployment)
    security = api["securityContext"]
    uid, gid = dockerfile_user()
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security["runAsUser"] == pod["securityContext"]["runAsUser"] == uid == 10001
    assert security["runAsGroup"] == pod["securityContext"]["runAsGroup"] == gid
    assert pod["automountServiceAccountToken"] is False
    # read-only root: the one writable place is an emptyDir at /tmp, and TMPDIR points there
    (mount,) = api["volumeMounts"]
    assert mount["mountPath"] == "/tmp" == env("TMPDIR")
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    assert "emptyDir" in volume


def test_labels_and_selectors_connect_the_resources() -> None:
    docs = resources()
    deployment = one("Deployment", docs)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = one("Service", docs)
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert one("PodDisruptionBudget", docs)["spec"]["selector"]["matchLabels"] == selector
    policy = one("NetworkPolicy", docs)
    assert policy["spec"]["podSelector"]["matchLabels"] == selector
    # the policy lets in the port that the Service and Prometheus use
    (port,) = container(deployment)["ports"]
    (rule,) = policy["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [port["name"]]
    # the HPA owns the replica count: none in the Deployment; min 2 so the PDB can drain one
    hpa = one("HorizontalPodAutoscaler", docs)
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]
    assert hpa["spec"]["minReplicas"] >= 2
    assert one("PodDisruptionBudget", docs)["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    # the pods run under their own service account
    account = one("ServiceAccount", docs)
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    )


def test_servicemonitor_scrapes_the_services_named_port() -> None:
    docs = resources()
    service = one("Service", docs)
    monitor = one("ServiceMonitor", docs)
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == METRICS_PATH
    assert port["targetPort"] == container()["ports"][0]["name"]
    # the job label is the one the alert rules and dashboards select (prometheus.yml's job)
    prometheus = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]["job_name"]
    assert job == "house-price-api"
    relabel = {r["targetLabel"]: r for r in endpoint["relabelings"]}["job"]
    assert (relabel["action"], relabel["replacement"]) == ("replace", job)
    assert f'job="{job}"' in (REPO / "monitoring" / "rules" / "alerts.yml").read_text()


def test_kustomization_sets_the_published_image() -> None:
    (image,) = kustomization()["images"]
    name = container()["image"].split(":")[0]
    assert image["name"] == name, "kustomize replaces images by name"
    assert image["newName"].endswith("/house-price-model")
    assert image.get("newTag") not in (None, "", "latest")


def test_docs_describe_these_manifests() -> None:
    """docs/deployment.md names every file and the values the manifests set."""
    section = (REPO / "docs" / "deployment.md").read_text()
    assert section.startswith("# Deploying the image\n"), section[:80]
    assert "kubectl apply -k deploy/kubernetes" in section
    for name in kustomization()["resources"]:
        assert f"`{name}`" in section, name
    pod = one("Deployment")["spec"]["template"]["spec"]
    resources_ = container()["resources"]
    for text in (
        f"terminationGracePeriodSeconds: {pod['terminationGracePeriodSeconds']}",
        f"preStop `sleep` {container()['lifecycle']['preStop']['sleep']['seconds']} s",
        f"GRACEFUL_SHUTDOWN_S={env('GRACEFUL_SHUTDOWN_S')}",
        f"MODEL_THREADS={env('MODEL_THREADS')}` = CPU limit {resources_['limits']['cpu']}",
        f"memory {resources_['requests']['memory']} request / {resources_['limits']['memory']}",
        f"Kubernetes {KUBERNETES_VERSIONS[0].rsplit('.', 1)[0]} or later",
        f"MAX_PENDING_BATCHES={env('MAX_PENDING_BATCHES')}",
    ):
        assert text in section, text
