"""Prometheus metrics of the API: HTTP requests (middleware), predictions, batch sizes, the
predicted prices, drift counts with their reference shares, the served model and the process;
prometheus-client's multiprocess mode when several workers serve."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from house_price.serving.drift import LiveCounts
from house_price.serving.served import ServedModel

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
PRICE_BUCKETS = (*(m * 10.0**e for e in range(3, 8) for m in (1, 2, 5)), 1e8)  # 1,000 .. 1e8
FLUSH_INTERVAL_S = 1.0  # drift and price counts reach the Prometheus counters this often
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class PendingHistogram:
    """Observations of a histogram gathered in memory (a bisection per value, or numpy for
    many) and added to the Prometheus histogram by `flush`: a 10,000-row batch costs one
    `searchsorted`, not 10,000 `observe` calls with a lock each (and a file write in
    multiprocess mode). Same buckets and sum as `observe` would give (a test checks it)."""

    def __init__(self, histogram: Histogram, bounds: Sequence[float]) -> None:
        self.histogram = histogram
        self.bounds = tuple(bounds)
        self.array = np.asarray(self.bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()

    def add(self, values: np.ndarray) -> None:
        if len(values) < 16:
            listed = values.tolist()
            hits = [bisect_left(self.bounds, value) for value in listed]
            total = math.fsum(listed)
            with self._lock:
                for hit in hits:
                    self._counts[hit] += 1
                self._sum += total
            return
        counts = np.bincount(
            np.searchsorted(self.array, values, side="left"), minlength=len(self._counts)
        )
        total = float(values.sum())
        with self._lock:
            for index in np.flatnonzero(counts).tolist():
                self._counts[index] += int(counts[index])
            self._sum += total

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, [0] * len(self._counts)
            total, self._sum = self._sum, 0.0
        if not any(counts):
            return
        # prometheus-client (pinned) keeps one value per bucket, not cumulative, and the sum.
        buckets = self.histogram._buckets
        for index, count in enumerate(counts):
            if count:
                buckets[index].inc(count)
        self.histogram._sum.inc(total)


class WorkerFilesCollector:
    """prometheus-client's multiprocess collector, but for the files still empty. A worker
    creates its file and only then sizes it: a scrape in between raised struct.error and
    answered 500 (seen while uvicorn started a replacement for a killed worker), and a worker
    killed in between left the empty file, and a 500 on every scrape, for good
    (prometheus/client_python#1199). An empty file holds no value: skipping it loses none."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def collect(self) -> Iterable[Metric]:
        files = []
        for file in self.path.glob("*.db"):
            with contextlib.suppress(FileNotFoundError):  # a dead worker's, just removed
                if file.stat().st_size > 0:
                    files.append(str(file))
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


class Metrics:
    """Every Prometheus metric of the API. With `multiprocess` (several uvicorn workers), each
    worker writes its values to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up;
    gauges say how (in flight: the sum of live workers; readiness: the minimum), and process
    metrics carry a `pid` label (prometheus-client's own process collector sees one process)."""

    def __init__(self, multiprocess: bool = False) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry(auto_describe=True)
        self.process = ProcessCollector(registry=None if multiprocess else self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "handler", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method, route template and status code.",
            ["method", "handler", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being served now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.predictions = Counter(
            "model_predictions_total",
            "Rows predicted, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "model_batch_rows",
            "Rows per prediction call: a /predict/batch request, or one micro-batch of "
            "concurrent /predict requests.",
            ["endpoint"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.predicted = PendingHistogram(
            Histogram(
                "model_predicted_price",
                "Predicted prices (every predicted row).",
                buckets=PRICE_BUCKETS,
                registry=self.registry,
            ),
            PRICE_BUCKETS,
        )
        self.model_info = Gauge(
            "model_info",
            "The served model bundle (1 = loaded).",
            ["version", "name", "dataset", "mlflow_run_id", "registered_version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.model_ready = Gauge(
            "model_ready",
            "1 when the bundle is loaded and passed its self-check, else 0.",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.drift_rows = Counter(
            "model_drift_observations_total",
            "Predicted rows per model version, feature and drift bin (that version's training "
            'bins; feature "(prediction)": the predicted value).',
            ["model_version", "feature", "bin"],
            registry=self.registry,
        )
        self.drift_reference = Gauge(
            "model_drift_reference_share",
            "Share of the train split's rows in each drift bin of a model version (the "
            "bundle's drift.json).",
            ["model_version", "feature", "bin"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.process_gauges: dict[str, Gauge] = {}
        if multiprocess:
            for name, help_text in (
                ("process_cpu_seconds_total", "CPU time of the worker, seconds."),
                ("process_resident_memory_bytes", "Resident memory of the worker, bytes."),
                ("process_virtual_memory_bytes", "Virtual memory of the worker, bytes."),
                ("process_open_fds", "Open file descriptors of the worker."),
                ("process_start_time_seconds", "Start of the worker, Unix time."),
            ):
                self.process_gauges[name] = Gauge(
                    name, help_text, registry=None, multiprocess_mode="liveall"
                )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.predict_one = self.predictions.labels("/predict")
        self.predict_batch = self.predictions.labels("/predict/batch")
        self.batch_one = self.batch_rows.labels("/predict")
        self.batch_many = self.batch_rows.labels("/predict/batch")
        self.live: LiveCounts | None = None
        self._drift_children: list[Any] = []
        self._pending_rows: list[Mapping[str, Any]] = []
        self._pending_predictions: list[np.ndarray] = []
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def observe(self, method: str, handler: str, status: int, seconds: float) -> None:
        key = (method, handler, status)
        children = self._children.get(key)
        if children is None:
            labels = (method if method in KNOWN_METHODS else "OTHER", handler, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def loaded(self, model: ServedModel, drift: bool = True) -> None:
        metadata = model.bundle.metadata
        mlflow = model.bundle.registration or {}
        self.model_info.labels(
            version=model.version,
            name=str(metadata.get("model_name", "")),
            dataset=str(metadata.get("dataset", "")),
            mlflow_run_id=str(mlflow.get("run_id", "")),
            registered_version=str(mlflow.get("version", "")),
        ).set(1)
        self.model_ready.set(1)
        if model.reference is not None:
            live = LiveCounts(model.reference)
            self._drift_children = []
            # Bins are a version's own (its train split's deciles): the version label keeps
            # each version's counts with its reference when versions overlap in a window
            # (a rollout, a rollback), so the rules compare like with like.
            version = model.version
            for feature, label, share in live.labels():
                self.drift_reference.labels(version, feature, label).set(share)
                # Every bin exists from the start (0), so that a share over a window is defined.
                self._drift_children.append(self.drift_rows.labels(version, feature, label))
            self.live = live if drift else None

    def record(
        self, batch: Any, rows: Sequence[Mapping[str, Any]], predictions: np.ndarray
    ) -> None:
        """One prediction call: its size, its predicted values and (drift on) its rows. Runs on
        the thread that predicted: the values and rows are only kept, for `flush` to bin."""
        batch.observe(len(rows))
        with self._pending_lock:
            self._pending_predictions.append(predictions)
            if self.live is not None:
                self._pending_rows.extend(rows)

    def flush(self) -> None:
        """The rows and predictions kept since the last flush, binned (numpy, one call) into
        the Prometheus metrics; and, in multiprocess mode, this worker's process metrics. Runs
        about once a second on a worker thread, and before each /metrics answer."""
        with self._flush_lock:
            with self._pending_lock:
                rows, self._pending_rows = self._pending_rows, []
                predictions, self._pending_predictions = self._pending_predictions, []
            if predictions:
                values = np.concatenate(predictions)
                self.predicted.add(values)
                if self.live is not None and rows:
                    self.live.add(rows, values)
            self.predicted.flush()
            live = self.live
            if live is not None:
                for child, count in zip(self._drift_children, live.take(), strict=True):
                    if count:
                        child.inc(count)
        if self.process_gauges:
            for family in self.process.collect():
                for sample in family.samples:
                    gauge = self.process_gauges.get(sample.name)
                    if gauge is not None:
                        gauge.set(sample.value)

    def exposition(self) -> bytes:
        self.flush()
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        registry.register(WorkerFilesCollector(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        return generate_latest(registry)

    def stopped(self) -> None:
        """At shutdown: the last counts, and this worker's live gauges leave the sum."""
        self.flush()
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if nothing is sent, the server error handler answers 500
        in_flight = self.metrics.in_flight
        in_flight.inc()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            in_flight.dec()
            self.metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The path template of the route the router picked for a request, `<unmatched>` when
    none did (a 404 of the router). FastAPI's routes name themselves in the scope ("route");
    the plain Starlette routes FastAPI adds to the app itself (GET /openapi.json) leave only
    their endpoint there, so they are found among the app's routes by it."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for candidate in scope["app"].routes:
            if getattr(candidate, "endpoint", None) is endpoint:
                return str(candidate.path)
    return "<unmatched>"
