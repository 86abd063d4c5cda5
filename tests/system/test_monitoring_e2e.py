"""The monitoring stack for real, on free loopback ports: the API (`python -m house_price.serve`,
2 uvicorn workers in prometheus-client's multiprocess mode), Prometheus (Debian's) with the
repo's rules, Alertmanager (Debian's) with the repo's routing, and a webhook receiver. Every
server is started and stopped by pid with bounded waits."""

from __future__ import annotations

import glob
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from api_support import call, post_json, request_rows
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from servers import (
    MONITORING,
    MONITORING_PACKAGES_HINT,
    WebhookReceiver,
    free_port,
    get_json,
    missing_monitoring_tools,
    prometheus_query,
    start_alertmanager,
    start_api_workers,
    start_prometheus,
    stop_process_group,
    write_alertmanager_config,
    write_prometheus_config,
)

from house_price.schema import Profile
from house_price.serving.drift import PREDICTION

pytestmark = pytest.mark.slow
WAIT_S = 60


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """name's samples in a /metrics text: sorted labels -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for key, value in samples(text, name).items()
        if all((k, v) in key for k, v in labels.items())
    )


@pytest.fixture(scope="module")
def test_rows(pipeline_repo: Path, profile: Profile) -> list[dict[str, Any]]:
    test = pd.read_parquet(pipeline_repo / "data" / "processed" / "test.parquet")
    return request_rows(test, profile)


# --- multiprocess: 2 workers, every count right ------------------------------------------------


def per_worker_predictions(metrics_dir: Path, scratch: Path) -> list[float]:
    """Prediction requests (/predict and /predict/batch) counted by each worker's own file."""
    served = []
    for path in sorted(glob.glob(str(metrics_dir / "counter_*.db"))):
        alone = scratch / f"{Path(path).stem}-{time.monotonic_ns()}"
        alone.mkdir(parents=True)
        shutil.copy(path, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        served.append(
            sum(
                sample.value
                for metric in registry.collect()
                for sample in metric.samples
                if sample.name == "http_requests_total"
                and sample.labels.get("handler") in ("/predict", "/predict/batch")
            )
        )
    return served


def test_two_workers_count_every_request(
    bundle_dir: Path, test_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Concurrent requests spread over 2 uvicorn workers (rounds of single rows and large
    batches until each worker's own file shows it served some, at most 8 rounds); /metrics,
    answered by either worker, has every request, row, batch, price and drift count once."""
    metrics_dir = tmp_path / "multiproc"
    process, url = start_api_workers(
        bundle_dir, tmp_path / "api.log", workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    sent = {"singles": 0, "batches": 0, "rows": 0}
    lock = threading.Lock()
    errors: list[str] = []

    def singles(offset: int) -> None:
        for index in range(offset, 80, 8):
            reply = post_json(url, "/predict", test_rows[index])
            with lock:
                sent["singles"] += 1
                sent["rows"] += 1
            if reply.status != 200:
                errors.append(reply.text)

    def batch(size: int) -> None:
        rows = (test_rows * (size // len(test_rows) + 1))[:size]
        reply = post_json(url, "/predict/batch", {"rows": rows})
        with lock:
            sent["batches"] += 1
            sent["rows"] += size
        if reply.status != 200:
            errors.append(reply.text)

    try:
        for _ in range(8):
            threads = [threading.Thread(target=singles, args=(offset,)) for offset in range(8)]
            threads += [threading.Thread(target=batch, args=(size,)) for size in (3000, 50)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not errors, errors[:3]
            served = per_worker_predictions(metrics_dir, tmp_path / "scratch")
            if len(served) == 2 and all(served):
                break
        assert len(served) == 2, served
        assert all(served), f"one worker served every request: {served}"
        assert post_json(url, "/predict", {"nope": 1}).status == 422
        time.sleep(2.5)  # both workers flush their drift and price counts (every second)
        rows = sent["rows"]
        for _ in range(4):  # whichever worker answers, the same totals
            text = call(url, "GET", "/metrics").text
            singles_ok = total(text, "http_requests_total", handler="/predict", status="200")
            assert singles_ok == sent["singles"]
            assert total(text, "http_requests_total", handler="/predict", status="422") == 1
            assert total(text, "http_requests_total", handler="/predict/batch") == sent["batches"]
            assert total(text, "model_predictions_total") == rows
            assert (
                total(text, "model_batch_rows_count", endpoint="/predict/batch") == sent["batches"]
            )
            assert total(text, "model_batch_rows_sum") == rows
            assert total(text, "model_predicted_price_count") == rows
            for feature in ("sqft", "location", PREDICTION):
                assert total(text, "model_drift_observations_total", feature=feature) == rows
            assert samples(text, "model_ready") == {(): 1.0}
            pids = {dict(key)["pid"] for key in samples(text, "process_resident_memory_bytes")}
            assert len(pids) == 2
        assert sum(per_worker_predictions(metrics_dir, tmp_path / "scratch")) == (
            sent["singles"] + sent["batches"] + 1
        )
    finally:
        stop_process_group(process)
    assert process.returncode is not None


# --- the whole stack ------------------------------------------------------------------------


@dataclass
class Stack:
    api: str
    prometheus: str
    alertmanager: str
    webhook: WebhookReceiver


@pytest.fixture(scope="module")
def stack(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = missing_monitoring_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: `{MONITORING_PACKAGES_HINT}`")
    home = tmp_path_factory.mktemp("monitoring")
    # The repo's alert rules with every `for:` at 0s, so that an alert fires within the test.
    alerts = yaml.safe_load((MONITORING / "rules" / "alerts.yml").read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    (home / "alerts.yml").write_text(yaml.safe_dump(alerts, sort_keys=False))
    rules = [MONITORING / "rules" / "recording.yml", home / "alerts.yml"]
    processes = []
    webhook = WebhookReceiver()
    try:
        api, api_url = start_api_workers(bundle_dir, home / "api.log", workers=2)
        processes.append(api)
        am_port, prom_port = free_port(), free_port()
        am_config = write_alertmanager_config(home, webhook.url, group_wait="1s")
        alertmanager, am_url = start_alertmanager(home, am_config, am_port, home / "am.log")
        processes.append(alertmanager)
        config = write_prometheus_config(
            home,
            api=api_url.removeprefix("http://"),
            alertmanager=f"127.0.0.1:{am_port}",
            prometheus=f"127.0.0.1:{prom_port}",
            interval="1s",
            rule_files=rules,
        )
        prometheus, prom_url = start_prometheus(home, config, prom_port, home / "prom.log")
        processes.append(prometheus)
        yield Stack(api_url, prom_url, am_url, webhook)
    finally:
        for process in reversed(processes):
            stop_process_group(process)
        webhook.close()
        for process in processes:
            assert process.poll() is not None


def psi_by_feature(stack: Stack) -> dict[str, float]:
    result = prometheus_query(stack.prometheus, 'feature:model_drift_psi:1h{job="house-price-api"}')
    return {item["metric"]["feature"]: float(item["value"][1]) for item in result}


def rows_by_feature(stack: Stack) -> dict[str, float]:
    result = prometheus_query(stack.prometheus, "feature:model_drift_observations:increase1h")
    return {item["metric"]["feature"]: float(item["value"][1]) for item in result}


def send(stack: Stack, rows: list[dict[str, Any]], batch: int = 500) -> None:
    for start in range(0, len(rows), batch):
        reply = post_json(stack.api, "/predict/batch", {"rows": rows[start : start + batch]})
        assert reply.status == 200, reply.text


def test_targets_are_up(stack: Stack) -> None:
    def health() -> dict[str, str]:
        targets = get_json(f"{stack.prometheus}/api/v1/targets")["data"]["activeTargets"]
        found = {target["labels"]["job"]: target["health"] for target in targets}
        return found if set(found.values()) == {"up"} else {}

    assert set(wait_until(health, "both targets up")) == {"house-price-api", "prometheus"}


def test_drift_of_one_feature_raises_its_psi_only_and_alerts(
    stack: Stack, test_rows: list[dict[str, Any]], profile: Profile
) -> None:
    features = set(profile.feature_names)
    undrifted = (test_rows * 3)[:2000]
    for row in undrifted[:40]:
        assert post_json(stack.api, "/predict", row).status == 200
    send(stack, undrifted[40:])
    steady = wait_until(
        lambda: (
            (psi := psi_by_feature(stack))
            and set(psi) >= features
            and rows_by_feature(stack).get("sqft", 0) >= 1500
            and psi
        ),
        "PSI of every feature after undrifted traffic",
    )
    for feature in features:
        assert steady[feature] < 0.1, steady
    assert "HousePriceDriftHigh" not in stack.webhook.alert_names()
    # one PSI per feature and model version (each version against its own bins): the served one
    served = get_json(f"{stack.api}/health")["model_version"]
    result = prometheus_query(stack.prometheus, 'feature:model_drift_psi:1h{job="house-price-api"}')
    assert {item["metric"]["model_version"] for item in result} == {served}

    # The same rows with sqft 4x larger: only sqft (and so the prediction) moves.
    shifted = [{**row, "sqft": min(row["sqft"] * 4, 29_000)} for row in (test_rows * 6)[:5000]]
    send(stack, shifted)
    drifted = wait_until(
        lambda: (
            (psi := psi_by_feature(stack)).get("sqft", 0) > 0.25
            and rows_by_feature(stack).get("sqft", 0) >= 6500
            and psi
        ),
        "sqft PSI above 0.25 after shifted traffic",
    )
    assert drifted["sqft"] > 1.0, drifted
    assert drifted[PREDICTION] > 0.25, drifted
    for feature in features - {"sqft"}:
        assert drifted[feature] < 0.1, (feature, drifted)

    def notified() -> list[dict]:
        return [
            alert
            for payload in stack.webhook.payloads
            for alert in payload.get("alerts", [])
            if alert["labels"].get("alertname") == "HousePriceDriftHigh"
            and alert["status"] == "firing"
        ]

    alerts = wait_until(notified, "HousePriceDriftHigh at the webhook through Alertmanager")
    assert {alert["labels"]["feature"] for alert in alerts} <= {"sqft", PREDICTION}
    assert "sqft" in {alert["labels"]["feature"] for alert in alerts}
    assert "HousePriceApiNotReady" not in stack.webhook.alert_names()
    assert "HousePriceApiDown" not in stack.webhook.alert_names()


def test_every_dashboard_panel_query_returns_data(
    stack: Stack, test_rows: list[dict[str, Any]]
) -> None:
    assert post_json(stack.api, "/predict", {"nope": 1}).status == 422  # the errors panel
    send(stack, test_rows[:200], batch=100)
    board = json.loads((MONITORING / "grafana/dashboards/house-price-api.json").read_text())
    queries = [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    assert len(queries) >= 15
    for title, expr in queries:
        concrete = re.sub(r"\$__rate_interval", "1m", expr)
        wait_until(
            lambda concrete=concrete: prometheus_query(stack.prometheus, concrete),
            f"panel {title!r} has data: {concrete}",
            timeout=30,
        )
