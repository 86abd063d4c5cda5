"""`make monitor`: the API, Prometheus and Alertmanager on this machine, on loopback, with the
repo's configs (monitoring/); Ctrl-C stops them all.

    API           http://127.0.0.1:8000   (python -m house_price.serve, WEB_CONCURRENCY workers)
    Prometheus    http://127.0.0.1:9090   (monitoring/prometheus.yml, rules/; targets rewritten)
    Alertmanager  http://127.0.0.1:9093   (monitoring/alertmanager.yml, webhook rewritten)
    webhook       http://127.0.0.1:5001   (prints every notification here)

Options change the ports and the bundle (--model-dir, default models/house-price: run the
pipeline first). Each server runs in its own process group and is stopped by its pid, with a
bounded wait; state and logs live in a temporary directory, removed at exit. Grafana runs
with compose (README).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from servers import (  # noqa: E402 (the helper module shared with the tests)
    WebhookReceiver,
    missing_monitoring_tools,
    start_alertmanager,
    start_api_workers,
    start_prometheus,
    stop_process_group,
    write_alertmanager_config,
    write_prometheus_config,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "house-price")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument("--webhook-port", type=int, default=5001)
    parser.add_argument("--workers", type=int, default=2, help="API workers (WEB_CONCURRENCY)")
    parser.add_argument("--interval", default="15s", help="scrape and rule evaluation interval")
    args = parser.parse_args()
    missing = missing_monitoring_tools()
    if missing:
        print(
            f"monitor: error: {', '.join(missing)} missing; run "
            "`sudo bash scripts/container_env.sh packages` (Debian packages prometheus, "
            "prometheus-alertmanager)",
            file=sys.stderr,
        )
        return 1
    if not (args.model_dir / "model.ubj").is_file():
        print(
            f"monitor: error: no bundle in {args.model_dir}: run `make run` first", file=sys.stderr
        )
        return 1

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    processes = []
    webhook = None
    with tempfile.TemporaryDirectory(prefix="house-price-monitor-") as temp:
        home = Path(temp)
        try:
            webhook = WebhookReceiver(args.webhook_port, echo=True)
            api, api_url = start_api_workers(
                args.model_dir.resolve(), home / "api.log", args.workers, args.api_port
            )
            processes.append(api)
            am_config = write_alertmanager_config(home, webhook.url)
            alertmanager, am_url = start_alertmanager(
                home, am_config, args.alertmanager_port, home / "alertmanager.log"
            )
            processes.append(alertmanager)
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
            processes.append(prometheus)
            print(f"API           {api_url}  ({args.workers} workers, /docs, /metrics)")
            print(f"Prometheus    {prom_url}  (alerts: {prom_url}/alerts)")
            print(f"Alertmanager  {am_url}")
            print(f"webhook       {webhook.url}  (notifications are printed here)")
            print(f"logs          {home}/*.log   Ctrl-C stops everything", flush=True)
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        print(f"monitor: {process.args[0]} exited with {process.returncode}")
                        stopping = True
                time.sleep(0.5)
        except AssertionError as exc:
            print(f"monitor: error: {exc}", file=sys.stderr)
            return 1
        finally:
            for process in reversed(processes):
                stop_process_group(process)
            if webhook is not None:
                webhook.close()
            print("monitor: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
