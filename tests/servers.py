"""Real servers for the tests, the benchmarks and `make monitor`: free loopback ports, bounded
waits, and stopping exactly the process group we started."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VENV_BIN = Path(sys.executable).parent
MLFLOW_START_TIMEOUT_S = 90
MODEL_SERVE_START_TIMEOUT_S = 180
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def clean_env(
    *, drop: tuple[str, ...] = (), no_proxy: bool = False, **extra: str
) -> dict[str, str]:
    """The environment a user has after activating the venv, without any tracking server (no
    MLFLOW_* or DVC_* variable), a test git identity, and `extra`. `drop`: more variables to
    leave out (names, or prefixes ending in _); `no_proxy`: without the proxy variables."""
    prefixes = ("MLFLOW_", "DVC_", *drop)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(prefixes) and not (no_proxy and "proxy" in k.lower())
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> str | None:
    """Why a server could not listen on 127.0.0.1:`port` (something listens there already, or
    the port is privileged), else None. The bind sets SO_REUSEADDR as servers do, so a port
    that only old connections (TIME_WAIT) hold counts as free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def wait_for_http(
    url: str,
    timeout: float,
    process: subprocess.Popen | None = None,
    status: int | None = 200,
) -> None:
    """Until `url` answers `status` (any status when None); fails after `timeout` s, or as soon
    as `process` exits. Loopback: no proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server for {url} exited with {process.returncode}")
        try:
            with opener.open(url, timeout=2) as response:
                answered = response.status
        except urllib.error.HTTPError as exc:
            answered = exc.code
        except OSError as exc:
            answered, last = None, str(exc)
        if answered is not None:
            if status is None or answered == status:
                return
            last = f"HTTP {answered}"
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s ({last})")


def stop_process_group(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def loopback_flags(port: int) -> list[str]:
    """`--host 127.0.0.1 --port <port> --workers 1`, as `mlflow server` and uvicorn take them."""
    return ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def start_mlflow_server(home: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` (sqlite backend, served artifacts, one worker) on a free loopback port,
    in its own process group (its workers stop with it); returns once /health answers. Without
    MLflow's job runner (unless `env` says otherwise): its 8 more processes (huey consumers, for
    MLflow's GenAI jobs, which nothing here uses) doubled the start-up time on this machine."""
    env = {JOB_EXECUTION: "false", **env}
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "server",
        *loopback_flags(port),
        "--backend-store-uri",
        f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination",
        str(home / "artifacts"),
        "--serve-artifacts",
    ]
    url = f"http://127.0.0.1:{port}"
    return start_server(command, log, f"{url}/health", env, home, MLFLOW_START_TIMEOUT_S), url


def start_model_server(
    model_uri: str, cwd: Path, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen, str]:
    """`mlflow models serve -m model_uri --env-manager local` (one worker) on a free loopback
    port, in its own process group; returns once /ping answers."""
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    return start_server(command, log, f"{url}/ping", env, cwd, MODEL_SERVE_START_TIMEOUT_S), url


# --- the monitoring stack: API workers, Prometheus, Alertmanager, a webhook receiver ----------
# Shared by the monitoring tests and `make monitor` (scripts/monitor.py imports this module).

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "monitoring"
PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
SERVER_START_TIMEOUT_S = 60
# What installs them (monitoring/debian-packages.txt), as `make monitor` does.
MONITORING_PACKAGES_HINT = "sudo python3 scripts/debian_packages.py monitoring/debian-packages.txt"


# The Debian binaries the monitoring tests and `make monitor` run.
MONITORING_TOOLS = (PROMETHEUS_BIN, ALERTMANAGER_BIN, "/usr/bin/promtool", "/usr/bin/amtool")


def missing_monitoring_tools() -> list[str]:
    """The monitoring binaries that are not installed (MONITORING_PACKAGES_HINT installs them)."""
    return [tool for tool in MONITORING_TOOLS if not os.access(tool, os.X_OK)]


def spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """`command` in its own process group (so its workers stop with it, and a Ctrl-C meant for
    the caller does not reach it), output to `log`; stop it with stop_process_group."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env or clean_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_server(
    command: list[str],
    log: Path,
    ready_url: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = SERVER_START_TIMEOUT_S,
    status: int | None = 200,
) -> subprocess.Popen:
    """`command` started with spawn(); returns once `ready_url` answers `status` (200; any when
    None), else stops it and fails, naming the log."""
    process = spawn(command, log, env, cwd)
    try:
        wait_for_http(ready_url, timeout, process, status)
    except BaseException as exc:
        stop_process_group(process)
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"{command[0]} did not start ({exc}); {log}:\n{tail}") from exc
    return process


def start_api_workers(
    model_dir: Path, log: Path, workers: int = 1, port: int | None = None, **env: str
) -> tuple[subprocess.Popen, str]:
    """`python -m house_price.serve` (WEB_CONCURRENCY workers) on a loopback port, /health 200."""
    port = port or free_port()
    environment = clean_env(
        MODEL_DIR=str(model_dir), HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY=str(workers)
    )
    environment = {k: v for k, v in environment.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment.update(env)
    url = f"http://127.0.0.1:{port}"
    command = [str(VENV_BIN / "python"), "-m", "house_price.serve"]
    # A worker answers /livez only after its start-up has loaded the bundle or failed to: a
    # broken bundle is then named at once by /health's 503, not after the whole timeout.
    process = start_server(command, log, f"{url}/livez", environment)
    reason = not_ready(f"{url}/health")
    if reason is not None:
        stop_process_group(process)
        raise AssertionError(f"the API on {url} serves no model: {reason}")
    return process, url


def not_ready(url: str) -> str | None:
    """None when the readiness probe `url` answers 200, else the API's reason (its 503 body)."""
    try:
        get_json(url)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            return str(json.loads(body).get("reason") or body)
        except (ValueError, AttributeError):
            return f"HTTP {exc.code}: {body[:200]}"
    return None


def write_prometheus_config(
    directory: Path,
    api: str,
    alertmanager: str | None,
    prometheus: str,
    interval: str = "15s",
    rule_files: list[Path] | None = None,
) -> Path:
    """monitoring/prometheus.yml with loopback targets (host:port), rule files by absolute
    path, and the scrape and evaluation `interval`."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    rules = rule_files or [MONITORING / name for name in config["rule_files"]]
    config["rule_files"] = [str(path) for path in rules]
    targets = {"house-price-api": api, "prometheus": prometheus}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_daemon(
    binary: str, flags: list[str], directory: Path, port: int, log: Path
) -> tuple[subprocess.Popen, str]:
    """Prometheus or Alertmanager on 127.0.0.1:`port` (both answer /-/ready once serving)."""
    url = f"http://127.0.0.1:{port}"
    command = [binary, *flags, f"--web.listen-address=127.0.0.1:{port}"]
    return start_server(command, log, f"{url}/-/ready", cwd=directory), url


def start_prometheus(
    directory: Path, config: Path, port: int, log: Path
) -> tuple[subprocess.Popen, str]:
    flags = [f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}"]
    return start_daemon(PROMETHEUS_BIN, [*flags, "--web.enable-lifecycle"], directory, port, log)


def write_alertmanager_config(directory: Path, webhook: str, group_wait: str = "30s") -> Path:
    """monitoring/alertmanager.yml with its webhook receivers sent to `webhook`."""
    config = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    config["route"]["group_wait"] = group_wait
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_alertmanager(
    directory: Path, config: Path, port: int, log: Path
) -> tuple[subprocess.Popen, str]:
    flags = [f"--config.file={config}", f"--storage.path={directory / 'alertmanager'}"]
    flags.append("--cluster.listen-address=")  # no gossip port: one instance
    return start_daemon(ALERTMANAGER_BIN, flags, directory, port, log)


class WebhookReceiver:
    """An Alertmanager webhook receiver on a loopback port, in a thread: keeps every
    notification (the JSON payloads), and prints a line for each when `echo`."""

    def __init__(self, port: int = 0, echo: bool = False) -> None:
        self.payloads: list[dict] = []
        received = self.payloads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                payload = json.loads(body or b"{}")
                received.append(payload)
                if echo:
                    for alert in payload.get("alerts", []):
                        name = alert.get("labels", {}).get("alertname")
                        summary = alert.get("annotations", {}).get("summary", "")
                        print(f"[webhook] {alert.get('status')}: {name} {summary}")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alert_names(self) -> set[str]:
        return {
            alert["labels"].get("alertname", "")
            for payload in self.payloads
            for alert in payload.get("alerts", [])
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def get_json(url: str, timeout: float = 10) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def prometheus_query(base: str, expr: str) -> list[dict]:
    """An instant query's result vector."""
    reply = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    if reply.get("status") != "success":
        raise AssertionError(f"{expr}: {reply}")
    return reply["data"]["result"]


# --- an S3 API on loopback: moto's server, for the DVC remote's tests and `make rehearse` -----

S3_START_TIMEOUT_S = 60
# What the tests and the rehearsal give DVC (boto reads them from the environment); moto takes
# any key. A real remote's keys go to the environment, an AWS profile or CI secrets, never to git
# (docs/remote.md).
S3_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# The DVC commands CI runs with a remote (.github/workflows/ci.yml; the workflow's contract test
# checks it runs exactly these), as the remote's tests and the rehearsal run them: pull what the
# remote has of this commit's outputs and the run-cache; reproduce, taking the outputs of a
# run-cache hit from the remote; on push to main, push outputs and run-cache.
CI_DVC_PULL = ("pull", "--run-cache", "--allow-missing")
CI_DVC_REPRO = ("repro", "--pull")
CI_DVC_PUSH = ("push", "--run-cache")


def s3_remote_options(endpoint: str) -> dict[str, str]:
    """`dvc remote modify --local <remote> <option> <value>` for a loopback S3 server, once the
    whole remote (URL first) is in .dvc/config.local: its endpoint and the test keys."""
    return {
        "endpointurl": endpoint,
        "access_key_id": S3_TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "secret_access_key": S3_TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def loopback_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with 127.0.0.1 and localhost kept away from any proxy (boto and urllib read it)."""
    hosts = ",".join(filter(None, ["127.0.0.1,localhost", env.get("NO_PROXY", "")]))
    return {**env, "NO_PROXY": hosts, "no_proxy": hosts}


def start_s3_server(
    home: Path, log: Path, buckets: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """moto's S3-compatible server (`moto_server`, state in memory) on a free loopback port, in
    its own process group; creates `buckets`; returns once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    env = loopback_env(clean_env())
    process = start_server(command, log, f"{url}/moto-api/", env, home, S3_START_TIMEOUT_S)
    try:
        for bucket in buckets:
            create_bucket(url, bucket)
    except BaseException:
        stop_process_group(process)
        raise
    return process, url


def create_bucket(endpoint: str, bucket: str) -> None:
    """`PUT /<bucket>` on a loopback S3 endpoint (moto needs no signature for it)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
    with opener.open(request, timeout=10) as response:
        if response.status != 200:
            raise AssertionError(f"creating bucket {bucket} on {endpoint}: HTTP {response.status}")


# --- the container engine (sandbox/engine.sh) ----------------------------------------------------


class EngineUnavailableError(RuntimeError):
    """The engine could not be prepared; the message says why."""


@dataclass(frozen=True)
class Engine:
    """The project's private Docker engine, as `engine.sh env` points a client at it."""

    env: dict[str, str]
    base_image: str

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """`docker <args>`'s stdout; AssertionError with both streams when it fails."""
        result = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {shlex.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout.strip()

    def logs(self, name: str) -> str:
        """A container's output, both streams (uvicorn logs to stderr)."""
        result = subprocess.run(
            ["docker", "logs", name], env=self.env, capture_output=True, text=True, timeout=60
        )
        return result.stdout + result.stderr

    def memory_peak(self, name: str) -> int | None:
        """Peak memory of a running container's cgroup, bytes (cgroup v1 or v2), if readable."""
        full = self.docker("inspect", "--format", "{{.Id}}", name)
        for path in (
            f"/sys/fs/cgroup/memory/docker/{full}/memory.max_usage_in_bytes",
            f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.peak",
        ):
            if os.path.exists(path):
                return int(Path(path).read_text())
        return None


def exported(text: str) -> dict[str, str]:
    """`export NAME=value` lines (as `engine.sh env` prints them) -> a dict."""
    values = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            values[name] = value
    return values


def engine_env(printed: str, base: Mapping[str, str]) -> dict[str, str]:
    """`base` pointed at the engine as `engine.sh env` printed it: no other DOCKER_ setting."""
    env = {key: value for key, value in base.items() if not key.startswith("DOCKER_")}
    env.update(exported(printed))
    return env


def prepare_engine(script: Path) -> Engine:
    """`script up` (idempotent), then an Engine on its socket; EngineUnavailableError with the
    reason when the engine cannot be prepared."""
    if not script.is_file():
        raise EngineUnavailableError(f"{script} is missing")
    try:
        up = subprocess.run(
            ["bash", str(script), "up"], capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        raise EngineUnavailableError(f"{script} up did not finish within 1800 s") from None
    if up.returncode != 0:
        raise EngineUnavailableError(
            f"the container engine could not be prepared: {up.stderr[-1500:]}"
        )
    printed = subprocess.run(
        ["bash", str(script), "env"], capture_output=True, text=True, timeout=60, check=True
    )
    env = engine_env(printed.stdout, os.environ)
    engine = Engine(env, env.get("BASE_IMAGE", "local/python:3.11"))
    engine.docker("info", "--format", "{{.ServerVersion}}", timeout=60)
    return engine


DASK_START_TIMEOUT_S = 60


@dataclass
class DaskCluster:
    """A `dask scheduler` and its `dask worker` processes, each in its own process group."""

    address: str  # tcp://127.0.0.1:<port>, what DASK_SCHEDULER_ADDRESS takes
    processes: list[subprocess.Popen]

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, then the scheduler
            stop_process_group(process)


def start_dask_cluster(directory: Path, workers: int, env: dict[str, str]) -> DaskCluster:
    """A real Dask cluster on loopback: `dask scheduler` (its /health on a second port), then
    `workers` single-threaded `dask worker` processes with 1 GiB each; returns once all the
    workers have joined (bounded), else stops what it started and fails. Stop it with stop()."""
    from distributed import Client

    port, http_port = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start_server(
        [
            str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
            "--dashboard-address", f"127.0.0.1:{http_port}", "--no-show",
        ],
        directory / "scheduler.log",
        f"http://127.0.0.1:{http_port}/health",
        env,
        timeout=DASK_START_TIMEOUT_S,
    )  # fmt: skip
    cluster = DaskCluster(address, [scheduler])
    try:
        for index in range(workers):
            command = [
                str(VENV_BIN / "dask"), "worker", address, "--host", "127.0.0.1",
                "--nthreads", "1", "--memory-limit", "1GiB", "--no-dashboard",
                "--name", f"worker-{index}",
            ]  # fmt: skip
            cluster.processes.append(spawn(command, directory / f"worker-{index}.log", env))
        with Client(address, timeout=f"{DASK_START_TIMEOUT_S}s") as client:
            client.wait_for_workers(workers, timeout=DASK_START_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster
