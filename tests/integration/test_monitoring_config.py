"""monitoring/ and compose.yaml checked by the real tools: promtool (config, rules, the rules of
deploy/kubernetes/prometheusrule.yaml, and the rule unit tests of monitoring/tests/), amtool,
docker-compose; the dashboards regenerated from monitoring/dashboards.py match the committed JSON
byte for byte, and the latency panel selects the requests of the latency SLO."""

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
from servers import MONITORING, MONITORING_PACKAGES_HINT, missing_monitoring_tools

TOOLS_HINT = f"run `{MONITORING_PACKAGES_HINT}`"
# promtool's unit tests of the rules: rules_test.yml (each alert), drift_versions_test.yml (drift
# across model versions: rollouts, restarts, rollbacks)
RULE_TESTS = ("tests/drift_versions_test.yml", "tests/rules_test.yml")
LATENCY_PANEL = "Latency quantiles (/predict, /predict/batch, 2xx)"


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


def test_promtool_checks_the_prometheusrules_groups(tmp_path: Path) -> None:
    """What the Prometheus Operator loads (deploy/kubernetes/prometheusrule.yaml, generated from
    rules/: tests/system/test_kubernetes_tools.py) is valid as it is: each resource's groups as
    one rules file, as the operator writes them for Prometheus."""
    docs = yaml.safe_load_all((REPO / "deploy/kubernetes/prometheusrule.yaml").read_text())
    files = []
    for doc in docs:
        path = tmp_path / f"{doc['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}))
        files.append(str(path))
    assert len(files) == 2
    result = run(["promtool", "check", "rules", *files], cwd=tmp_path)
    assert result.stdout.count("SUCCESS") == 2, result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    found = sorted(str(path.relative_to(MONITORING)) for path in MONITORING.glob("tests/*.yml"))
    assert tuple(found) == RULE_TESTS
    result = run(["promtool", "test", "rules", *RULE_TESTS], cwd=MONITORING)
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "rules" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tests = [
        test
        for name in RULE_TESTS
        for test in yaml.safe_load((MONITORING / name).read_text())["tests"]
    ]
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
    result = run(["promtool", "test", "rules", *RULE_TESTS], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "HousePriceDriftHigh" in result.stdout + result.stderr


def test_drift_rules_without_the_model_version_fail_the_rollout_test(tmp_path: Path) -> None:
    """The rollout tests catch the false alert they are about: with the drift rules summing
    over model versions again (issue 25: old pods' counts met the new version's bins), the
    unchanged traffic of a rollout fires HousePriceDriftHigh at the 45th minute."""
    shutil.copytree(MONITORING / "rules", tmp_path / "rules")
    shutil.copytree(MONITORING / "tests", tmp_path / "tests")
    for name in ("recording.yml", "alerts.yml"):
        path = tmp_path / "rules" / name
        text = path.read_text()
        assert "model_version, " in text
        path.write_text(
            text.replace("model_version, ", "").replace("(job, model_version)", "(job)")
        )
    result = run(
        ["promtool", "test", "rules", "tests/drift_versions_test.yml"], cwd=tmp_path, check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr  # promtool reports failures on stderr
    fired = (
        r"name: a rollout on unchanged traffic[^\n]*\n\s*alertname: HousePriceDriftHigh, time: 45m,"
    )
    assert re.search(fired, output), output


def test_amtool_checks_the_alertmanager_config() -> None:
    result = run(["amtool", "check-config", "alertmanager.yml"], cwd=MONITORING)
    assert "SUCCESS" in result.stdout


def test_docker_compose_config_validates_compose_yaml() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose missing; run `sudo bash sandbox/engine.sh packages`")
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
        (REPO / "requirements-dev.txt").read_text(),
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
        LATENCY_PANEL,
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


def selectors(expr: str, metric: str) -> list[set[tuple[str, str, str]]]:
    """The label matchers (name, operator, value) of each `metric{...}` selector in `expr`;
    `metric` is a regular expression."""
    return [
        set(re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', inner))
        for inner in re.findall(metric + r"\{([^}]*)\}", expr)
    ]


def test_latency_panel_counts_the_requests_of_the_slo() -> None:
    """The quantiles are those of the requests the latency SLO and its alerts count: the SLO's
    recording rules' matchers (prediction routes, status 2xx), not fast 503s or 4xx. Besides
    them the panel selects the job (the rules keep it with `by (job)`, the alerts select it)."""
    groups = yaml.safe_load((MONITORING / "rules" / "recording.yml").read_text())["groups"]
    (slo,) = [group for group in groups if group["name"] == "house-price-latency-slo"]
    in_rules = [
        {matcher for matcher in selector if matcher[0] != "le"}
        for rule in slo["rules"]
        for selector in selectors(rule["expr"], r"http_request_duration_seconds_(?:bucket|count)")
    ]
    assert len(in_rules) == 2 * len(slo["rules"])  # good (le="0.25") and all, per window
    wanted = in_rules[0]
    assert all(matchers == wanted for matchers in in_rules), in_rules
    assert ("status", "=~", "2..") in wanted
    board = json.loads((MONITORING / "grafana/dashboards/house-price-api.json").read_text())
    (panel,) = [panel for panel in board["panels"] if panel["title"] == LATENCY_PANEL]
    assert len(panel["targets"]) == 3  # p50, p90, p99
    for target in panel["targets"]:
        (matchers,) = selectors(target["expr"], "http_request_duration_seconds_bucket")
        assert matchers == wanted | {("job", "=", "house-price-api")}, target["expr"]


# PromQL words that are not series (their label lists are dropped before names are looked for;
# functions and aggregations are names followed by "(").
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def series_selectors(expr: str) -> list[tuple[str, set[tuple[str, str, str]]]]:
    """Every series selector of `expr`: (metric name, its label matchers). Drops the modifiers
    by/without/on/ignoring/group_left/group_right with their label lists, and the ranges ([5m]);
    a name followed by "(" is then a function or an aggregation."""
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    text = re.sub(r"\[[^\]]*\]", "", text)
    found = []
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*(\(?)", text):
        name, braces, call = match.groups()
        if call or name in PROMQL_KEYWORDS:
            continue
        matchers = set(re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', braces or ""))
        found.append((name, matchers))
    return found


def test_series_selectors_finds_every_series_and_no_function() -> None:
    expr = (
        'sum by (job, feature) (clamp_min(a:b:c{job="x"}, 0.0001) / on (job) group_left ()'
        ' rate(m_total{le="0.25", s=~"2.."}[5m])) > 1e-4 and bare_metric offset 5m'
    )
    assert series_selectors(expr) == [
        ("a:b:c", {("job", "=", "x")}),
        ("m_total", {("le", "=", "0.25"), ("s", "=~", "2..")}),
        ("bare_metric", set()),
    ]


def test_every_recording_rule_selects_the_api_job_only() -> None:
    """deploy/kubernetes/prometheusrule.yaml loads the rules into a cluster's Prometheus, which
    scrapes other apps too, some with the same metric names (http_requests_total): a selector
    without the job would sum their series into ours, or record theirs under our rules' names.
    Every selector names the job, recorded series included (another app's rules may record the
    same names); monitoring/tests/rules_test.yml shows another job's series are not recorded."""
    groups = yaml.safe_load((MONITORING / "rules" / "recording.yml").read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules
    assert all("record" in rule for rule in rules)
    seen = set()
    for rule in rules:
        found = series_selectors(rule["expr"])
        assert found, rule["record"]
        for name, matchers in found:
            assert ("job", "=", "house-price-api") in matchers, f"{rule['record']}: {name}"
            seen.add(name)
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "model_predictions_total",
        "model_drift_observations_total",
        "model_drift_reference_share",
        "job:http_requests:rate5m",
    ):
        assert metric in seen, metric


def test_dashboards_check_names_the_command_and_writing_replaces_the_file(
    tmp_path: Path,
) -> None:
    """--check on a stale dashboard exits 1 and says what to run; the rewrite renames a complete
    file over the old one (atomic_path) instead of truncating it in place: a reader that has
    the old file open (Grafana's provisioning) still reads the whole old file."""
    script = tmp_path / "monitoring" / "dashboards.py"
    script.parent.mkdir()
    shutil.copy(MONITORING / "dashboards.py", script)
    boards = tmp_path / "monitoring" / "grafana" / "dashboards"
    boards.mkdir(parents=True)
    board = boards / "house-price-api.json"
    old = '{"stale": true}\n'
    board.write_text(old)
    stale = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=120
    )
    assert stale.returncode == 1
    assert stale.stderr == (
        f"{board}: not generated from monitoring/dashboards.py: run "
        "`.venv/bin/python monitoring/dashboards.py`\n"
    )
    with open(board) as reader:
        subprocess.run([sys.executable, str(script)], check=True, timeout=120)
        assert reader.read() == old
    committed = MONITORING / "grafana" / "dashboards" / "house-price-api.json"
    assert board.read_text() == committed.read_text()
    assert sorted(path.name for path in boards.iterdir()) == ["house-price-api.json"]
