"""`make monitor`: the API, Prometheus and Alertmanager on this machine, on loopback, with the
repo's configs (monitoring/); Ctrl-C stops them all.

    API           http://127.0.0.1:8000   (python -m house_price.serve, WEB_CONCURRENCY workers)
    Prometheus    http://127.0.0.1:9090   (monitoring/prometheus.yml, rules/; targets rewritten)
    Alertmanager  http://127.0.0.1:9093   (monitoring/alertmanager.yml, webhook rewritten)
    webhook       http://127.0.0.1:5001   (prints every notification here)

Options change the ports and the bundle (--model-dir, default models/house-price: run the
pipeline first). Each server runs in its own process group and is stopped by its pid, with a
bounded wait; state and logs live in a temporary directory, removed at exit. Grafana runs
with compose (docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from house_price.api.core.config import WORKERS_PER_CPU, max_workers, usable_cpus

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from servers import (  # noqa: E402 (the helper module shared with the tests)
    WebhookReceiver,
    missing_monitoring_tools,
    port_taken,
    start_alertmanager,
    start_api_workers,
    start_prometheus,
    stop_process_group,
    write_alertmanager_config,
    write_prometheus_config,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "house-price")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--webhook-port", type=int, default=5001)
    parser.add_argument("--workers", type=int, default=2, help="API workers (WEB_CONCURRENCY)")
    parser.add_argument("--interval", default="15s", help="scrape and rule evaluation interval")
    args = parser.parse_args()
    problem = workers_problem(args.workers) or ports_problem(
        {
            "--api-port": args.api_port,
            "--prometheus-port": args.prometheus_port,
            "--alertmanager-port": args.alertmanager_port,
            "--webhook-port": args.webhook_port,
        }
    )
    if problem:
        parser.exit(1, f"monitor: error: {problem}\n")
    missing = missing_monitoring_tools()
    if missing:
        parser.exit(
            1,
            f"monitor: error: {', '.join(missing)} missing; run "
            "`sudo python3 scripts/debian_packages.py monitoring/debian-packages.txt`\n",
        )
    if not (args.model_dir / "model.ubj").is_file():
        parser.exit(1, f"monitor: error: no bundle in {args.model_dir}: run `make run` first\n")

    stopping = False
    failed = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running: dict[subprocess.Popen, Path] = {}  # each server and its log
    webhook = None
    with tempfile.TemporaryDirectory(prefix="house-price-monitor-") as temp:
        home = Path(temp)
        try:
            webhook = WebhookReceiver(args.webhook_port, echo=True)
            api, api_url = start_api_workers(
                args.model_dir.resolve(), home / "api.log", args.workers, args.api_port
            )
            running[api] = home / "api.log"
            am_config = write_alertmanager_config(home, webhook.url)
            alertmanager, am_url = start_alertmanager(
                home, am_config, args.alertmanager_port, home / "alertmanager.log"
            )
            running[alertmanager] = home / "alertmanager.log"
            config = write_prometheus_config(
                home,
                api=f"127.0.0.1:{args.api_port}",
                alertmanager=f"127.0.0.1:{args.alertmanager_port}",
                prometheus=f"127.0.0.1:{args.prometheus_port}",
                interval=args.interval,
            )
            prometheus, prom_url = start_prometheus(
                home, config, args.prometheus_port, home / "prometheus.log"
            )
            running[prometheus] = home / "prometheus.log"
            print(f"API           {api_url}  ({args.workers} workers, /docs, /metrics)")
            print(f"Prometheus    {prom_url}  (alerts: {prom_url}/alerts)")
            print(f"Alertmanager  {am_url}")
            print(f"webhook       {webhook.url}  (notifications are printed here)")
            print(f"logs          {home}/*.log   Ctrl-C stops everything", flush=True)
            while not stopping:
                for process, log in running.items():
                    if process.poll() is not None:
                        tail = log.read_text(errors="replace")[-2000:]
                        print(
                            f"monitor: error: {process.args[0]} exited with "
                            f"{process.returncode}; the end of {log.name}:\n{tail}",
                            file=sys.stderr,
                        )
                        stopping = failed = True
                time.sleep(0.5)
        except (AssertionError, OSError) as exc:  # a server did not start; a port was taken
            print(f"monitor: error: {exc}", file=sys.stderr)
            return 1
        finally:
            for process in reversed(running):
                stop_process_group(process)
            if webhook is not None:
                webhook.close()
            print("monitor: stopped", flush=True)
    return 1 if failed else 0


def ports_problem(ports: dict[str, int]) -> str | None:
    """Why the servers cannot listen on these loopback ports (option -> port): a port out of
    range, one given twice, or one taken (a server already there would otherwise answer our
    start-up probes for ours); None when all are free."""
    seen: dict[int, str] = {}
    for option, port in ports.items():
        if not 1 <= port <= 65535:
            return f"{option} {port}: a port is from 1 to 65535"
        if port in seen:
            return f"{option} {port}: {seen[port]} has it too; give each server its own port"
        seen[port] = option
        taken = port_taken(port)
        if taken:
            return (
                f"{option} {port}: 127.0.0.1:{port} cannot be listened on ({taken}): stop "
                "what uses it, or choose another port"
            )
    return None


def workers_problem(workers: int) -> str | None:
    """Why the API cannot run `workers` workers (it refuses WEB_CONCURRENCY outside 1 to
    max_workers(), but only once started, in a multi-line log); None when it can."""
    most = max_workers()
    if 1 <= workers <= most:
        return None
    return (
        f"--workers {workers}: the API runs from 1 to {most} workers "
        f"({WORKERS_PER_CPU} per usable CPU, {usable_cpus()} here)"
    )


if __name__ == "__main__":
    sys.exit(main())
