"""monitoring/ and compose.yaml checked by the real tools: promtool (config, rules, and the rule
unit tests of monitoring/tests/), amtool, docker-compose; and the dashboards regenerated from
monitoring/dashboards.py match the committed JSON byte for byte."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run
from servers import MONITORING, missing_monitoring_tools

TOOLS_HINT = "run `bash scripts/container_env.sh packages` (as root): prometheus, alertmanager"


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    missing = missing_monitoring_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} missing; {TOOLS_HINT}")


def test_promtool_checks_the_prometheus_config_and_rules() -> None:
    result = run(["promtool", "check", "config", "prometheus.yml"], cwd=MONITORING)
    assert "SUCCESS" in result.stdout
    rules = sorted(str(path) for path in (MONITORING / "rules").glob("*.yml"))
    assert len(rules) == 2
    run(["promtool", "check", "rules", *rules], cwd=MONITORING)


def test_promtool_rule_unit_tests_pass() -> None:
    result = run(["promtool", "test", "rules", "tests/rules_test.yml"], cwd=MONITORING)
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "rules" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tests = yaml.safe_load((MONITORING / "tests" / "rules_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == fired


def test_a_broken_rule_test_fails(tmp_path: Path) -> None:
    """The unit tests can fail: the drift test with the alert's threshold raised above its PSI."""
    shutil.copytree(MONITORING / "rules", tmp_path / "rules")
    shutil.copytree(MONITORING / "tests", tmp_path / "tests")
    alerts = tmp_path / "rules" / "alerts.yml"
    text = alerts.read_text()
    assert 'feature:model_drift_psi:1h{job="house-price-api"} > 0.25' in text
    alerts.write_text(
        text.replace(
            'model_drift_psi:1h{job="house-price-api"} > 0.25',
            'model_drift_psi:1h{job="house-price-api"} > 0.9',
        )
    )
    result = run(["promtool", "test", "rules", "tests/rules_test.yml"], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "HousePriceDriftHigh" in result.stdout + result.stderr


def test_amtool_checks_the_alertmanager_config() -> None:
    result = run(["amtool", "check-config", "alertmanager.yml"], cwd=MONITORING)
    assert "SUCCESS" in result.stdout


def test_docker_compose_config_validates_compose_yaml() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip(f"docker-compose missing; {TOOLS_HINT}")
    result = run(["docker-compose", "-f", "compose.yaml", "config"], cwd=REPO)
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"api", "prometheus", "alertmanager", "grafana", "webhook"}
    assert services["api"]["build"]["dockerfile"] == "Dockerfile"
    for name, service in services.items():
        assert "healthcheck" in service, name
    # every file a service mounts from the repo exists
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith(str(REPO)):
                assert Path(source).exists(), source
    # the dashboards' datasource is the provisioned one
    datasource = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    board = json.loads((MONITORING / "grafana/dashboards/house-price-api.json").read_text())
    uids = {panel["datasource"]["uid"] for panel in board["panels"] if "datasource" in panel}
    assert uids == {datasource["uid"]}
    # compose runs the Grafana the dashboards are generated for (the SDK's pinned build)
    pinned = re.search(
        r"^grafana-foundation-sdk==\d+!(\d+\.\d+)\.\d+$",
        (REPO / "requirements.txt").read_text(),
        re.MULTILINE,
    )
    assert pinned is not None
    assert services["grafana"]["image"].startswith(f"grafana/grafana:{pinned.group(1)}.")


def test_dashboards_regenerate_to_the_committed_json() -> None:
    result = subprocess.run(
        [sys.executable, str(MONITORING / "dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    board = json.loads((MONITORING / "grafana/dashboards/house-price-api.json").read_text())
    titles = {panel["title"] for panel in board["panels"]}
    for wanted in (
        "Request rate",
        "Errors",
        "Latency quantiles (/predict, /predict/batch)",
        "In-flight requests",
        "Batch size (rows per prediction call)",
        "Predicted rows",
        "Predicted price distribution",
        "Drift per feature (PSI, 1h)",
        "Model version",
    ):
        assert wanted in titles, wanted
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
