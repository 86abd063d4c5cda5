"""Generate the Grafana dashboards of monitoring/grafana/dashboards/ from code.

    .venv/bin/python monitoring/dashboards.py            # rewrite the JSON files
    .venv/bin/python monitoring/dashboards.py --check    # exit 1 if they are not up to date

Built with grafana-foundation-sdk, pinned in requirements.txt to the build for Grafana 11.6
(the version compose.yaml runs): its versions carry an epoch, and an unpinned install resolves
to the types of an old Grafana. The generated JSON is committed, and a test checks that this
script reproduces it byte for byte. Every query reads the `house-price-api` job; the
datasource is the one provisioned with uid `prometheus`. Each file is written atomically (a
temporary file renamed over it): an interrupted run leaves the old one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from house_price.core.io import atomic_path  # the package, installed editable in .venv

OUT = Path(__file__).resolve().parent / "grafana" / "dashboards"
DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid="prometheus")
JOB = 'job="house-price-api"'
# The latency SLO's requests (rules/recording.yml, group house-price-latency-slo): predictions
# answered 2xx. Fast 503s (queue full) and 4xx would pull the quantiles down; Errors shows them.
SLO_REQUESTS = f'{JOB}, handler=~"/predict|/predict/batch", status=~"2.."'
# Drift is per model version (each against its own bins): during a rollout, one line each.
LEGEND_VERSION = "{{feature}} ({{model_version}})"


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    built = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    return built.legend_format(legend) if legend else built


def series(title: str, unit: str, *queries: prometheus.Dataquery, width: int = 8):
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    for item in queries:
        panel = panel.with_target(item)
    return panel


def thresholds(*steps: tuple[float | None, str]) -> board.ThresholdsConfig:
    return (
        board.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=color) for value, color in steps])
    )


def single(title: str, expr: str, legend: str, unit: str, text_mode: common.BigValueTextMode):
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(query(expr, legend).instant())
        .unit(unit)
        .height(4)
        .span(6)
        .text_mode(text_mode)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
    )


def service_dashboard() -> dashboard.Dashboard:
    rate = "$__rate_interval"
    quantiles = [
        query(
            f"histogram_quantile({q}, sum by (le) (rate("
            f"http_request_duration_seconds_bucket{{{SLO_REQUESTS}}}[{rate}])))",
            f"p{round(q * 100)}",
            ref,
        )
        for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]
    builder = (
        board.Dashboard("House price API")
        .uid("house-price-api")
        .description("Traffic, errors, latency, predictions and drift of the house-price API.")
        .tags(["house-price", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .readonly()
        .with_row(board.Row("Service"))
        .with_panel(
            single(
                "Model version",
                f"max by (version, dataset) (model_info{{{JOB}}})",
                "{{version}} ({{dataset}})",
                "none",
                common.BigValueTextMode.NAME,
            )
        )
        .with_panel(
            single(
                "Model ready (all workers)",
                f"min(model_ready{{{JOB}}})",
                "ready",
                "bool_yes_no",
                common.BigValueTextMode.VALUE,
            ).thresholds(thresholds((None, "red"), (1, "green")))
        )
        .with_panel(
            single(
                "Latency SLO: budget burn (1h)",
                f"job:slo_predict_latency:bad_ratio_rate1h{{{JOB}}} / 0.01",
                "burn rate",
                "x",
                common.BigValueTextMode.VALUE,
            ).thresholds(thresholds((None, "green"), (6, "orange"), (14.4, "red")))
        )
        .with_panel(
            single(
                "Workers' resident memory",
                f"sum(process_resident_memory_bytes{{{JOB}}})",
                "RSS",
                "bytes",
                common.BigValueTextMode.VALUE,
            )
        )
        .with_panel(
            series(
                "Request rate",
                "reqps",
                query(
                    f"sum by (handler, status) (rate(http_requests_total{{{JOB}}}[{rate}]))",
                    "{{handler}} {{status}}",
                ),
            )
        )
        .with_panel(
            series(
                "Errors",
                "reqps",
                query(
                    f'sum by (handler, status) (rate(http_requests_total{{{JOB}, status=~"[45].."}}'
                    f"[{rate}]))",
                    "{{handler}} {{status}}",
                ),
            )
        )
        .with_panel(
            series(
                "5xx ratio (5m)",
                "percentunit",
                query(f"job:http_requests_5xx:ratio_rate5m{{{JOB}}}", "5xx / all"),
            )
        )
        .with_panel(series("Latency quantiles (/predict, /predict/batch, 2xx)", "s", *quantiles))
        .with_panel(
            series(
                "In-flight requests",
                "short",
                query(f"sum(http_requests_in_flight{{{JOB}}})", "in flight"),
            )
        )
        .with_panel(
            series(
                "CPU (all workers)",
                "percentunit",
                query(f"sum(rate(process_cpu_seconds_total{{{JOB}}}[{rate}]))", "CPU"),
            )
        )
        .with_row(board.Row("Predictions"))
        .with_panel(
            series(
                "Predicted rows",
                "rowsps",
                query(
                    f"sum by (endpoint) (rate(model_predictions_total{{{JOB}}}[{rate}]))",
                    "{{endpoint}}",
                ),
            )
        )
        .with_panel(
            series(
                "Batch size (rows per prediction call)",
                "short",
                query(
                    f"sum by (endpoint) (rate(model_batch_rows_sum{{{JOB}}}[{rate}])) / "
                    f"sum by (endpoint) (rate(model_batch_rows_count{{{JOB}}}[{rate}]))",
                    "mean {{endpoint}}",
                    "A",
                ),
                query(
                    "histogram_quantile(0.99, sum by (endpoint, le) "
                    f"(rate(model_batch_rows_bucket{{{JOB}}}[{rate}])))",
                    "p99 {{endpoint}}",
                    "B",
                ),
            )
        )
        .with_panel(
            heatmap.Panel()
            .title("Predicted price distribution")
            .datasource(DATASOURCE)
            .with_target(
                query(
                    f"sum by (le) (increase(model_predicted_price_bucket{{{JOB}}}[{rate}]))",
                    "{{le}}",
                ).format(PromQueryFormat.HEATMAP)
            )
            .unit("currencyUSD")
            .height(8)
            .span(8)
        )
        .with_row(board.Row("Drift (PSI of each model version against its training data, 1h)"))
        .with_panel(
            series(
                "Drift per feature (PSI, 1h)",
                "none",
                query(f"feature:model_drift_psi:1h{{{JOB}}}", LEGEND_VERSION),
                width=12,
            )
            .thresholds(thresholds((None, "green"), (0.1, "orange"), (0.25, "red")))
            .thresholds_style(
                common_builder.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.LINE
                )
            )
        )
        .with_panel(
            series(
                "Drift: rows per feature (1h)",
                "short",
                query(f"feature:model_drift_observations:increase1h{{{JOB}}}", LEGEND_VERSION),
                width=12,
            )
        )
    )
    result = builder.build()
    for number, panel in enumerate(result.panels or [], start=1):
        panel.id_val = number  # stable, unique ids (Grafana links and the tests name panels by id)
    return result


DASHBOARDS = {"house-price-api.json": service_dashboard}


def render(build) -> str:
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    stale = []
    for name, build in DASHBOARDS.items():
        path, text = OUT / name, render(build)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(text)
    if stale:
        print(
            f"{', '.join(stale)}: not generated from monitoring/dashboards.py: run "
            "`.venv/bin/python monitoring/dashboards.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
