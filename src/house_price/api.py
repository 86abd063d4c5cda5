"""The serving API: the model bundle behind FastAPI, with Prometheus metrics on the same port.

    uvicorn house_price.api:app --host 127.0.0.1 --port 8000     (MODEL_DIR, MAX_BATCH_ROWS)

Endpoints: GET /health, POST /predict (one row), POST /predict/batch ({"rows": [...]}),
GET /model (bundle metadata), GET /metrics (Prometheus text), /docs and /openapi.json.

The bundle is loaded once, at start-up (lifespan). A missing or broken bundle does not stop the
process: it serves, /health and the predict endpoints answer 503 with the reason, and the reason
is logged. /health is 200 only after a self-check: the profile's example row, validated by the
request model, predicted by the fast path and by the pipeline's own transformer, agreeing.

Request models are generated from the bundle's profile (types, bounds, allowed categories with
the pipeline's normalisation, no unknown fields, no NaN/Infinity). Request bodies are validated
straight from the raw bytes by pydantic-core (one pass, no intermediate `json.loads`): every
error, malformed JSON included, is a 422 whose message names the field.

Environment: MODEL_DIR (default models/house-price), MAX_BATCH_ROWS (default 10000),
MAX_BODY_BYTES (default 1 MiB + 1 KiB per batch row), MODEL_THREADS (XGBoost threads for
batches of 1,000 rows or more; default 0: XGBoost's choice, the CPUs the cgroup allows;
smaller calls use one thread), DRIFT_METRICS (1, default: count live inputs into the bundle's
drift bins; 0: do not), PROMETHEUS_MULTIPROC_DIR (set by `python -m house_price.serve` for
several workers: prometheus-client's multiprocess mode, /metrics adds up every worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import math
import os
import threading
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NotRequired, Required

import numpy as np
import pandas as pd
import pydantic_core
import xgboost as xgb
from annotated_types import MultipleOf
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typing_extensions import TypedDict

from house_price.bundle import Bundle, BundleError, load_bundle
from house_price.drift import LiveCounts, Reference, load_reference
from house_price.features import ROW_ENCODER_MAX_ROWS
from house_price.model import predict
from house_price.schema import Column, Profile

DEFAULT_MODEL_DIR = "models/house-price"
DEFAULT_MAX_BATCH_ROWS = 10_000
API_VERSION = "1"
SELF_CHECK_RTOL = 1e-6
PARALLEL_MIN_ROWS = 1000  # from this many rows, XGBoost predicts on MODEL_THREADS threads
JSON_TYPES = ("application/json",)
SCHEMA_REF = "#/components/schemas/{model}"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
PRICE_BUCKETS = (*(m * 10.0**e for e in range(3, 8) for m in (1, 2, 5)), 1e8)  # 1,000 .. 1e8
FLUSH_INTERVAL_S = 1.0  # drift and price counts reach the Prometheus counters this often
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# A child of uvicorn's logger: under uvicorn the reason a bundle did not load is printed in
# uvicorn's format; elsewhere it still reaches stderr through logging's last-resort handler.
log = logging.getLogger("uvicorn.error.house_price")


# --- request and response models -------------------------------------------------------------


class PredictResponse(BaseModel):
    prediction: float = Field(description="Predicted price.")
    model_version: str


class BatchPredictResponse(BaseModel):
    predictions: list[float] = Field(description="One prediction per row, in request order.")
    model_version: str


class HealthResponse(BaseModel):
    status: str = Field(description='"ok" when the model answers, else "unavailable".')
    model_version: str | None = None
    reason: str | None = Field(default=None, description="Why the model is unavailable.")


class ErrorResponse(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description='Where: ["body", field] or ["body", "rows", i, field].'
    )
    msg: str = Field(description="What is wrong, prefixed with the field.")
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


class Spellings(dict[str, str]):
    """Spelling -> canonical category, as `Column.normalise` (the pipeline's rule) decides.

    Its bound `__getitem__` is the validator: a spelling seen before is a C-level dict hit,
    with no Python frame per value (10,000-row batches); a new one calls `__missing__`, which
    asks `Column.normalise` and remembers the answer (up to `limit` spellings), or raises the
    422 error that lists the allowed values."""

    def __init__(self, column: Column, limit: int = 1024) -> None:
        super().__init__({name: name for name in column.categories})
        self.column = column
        self.limit = limit
        aliases = ", ".join(f"{alias!r} -> {target}" for alias, target in column.aliases.items())
        self.context = {
            "allowed": ", ".join(column.categories),
            "hint": f" (case and spacing are ignored{'; aliases: ' + aliases if aliases else ''})",
        }

    def __missing__(self, value: str) -> str:
        canonical = self.column.normalise(value)
        if canonical is None:
            raise PydanticCustomError(
                "category", "Input should be one of: {allowed}{hint}", self.context
            )
        if len(self) < self.limit:
            self[value] = canonical
        return canonical


def _field(column: Column) -> tuple[Any, Any]:
    """(type, Field) of one feature in the request models. A nullable column (declared in the
    profile) also takes null or an omitted field: the fitted transformer imputes it, exactly
    as the pipeline does for a missing value."""
    common: dict[str, Any] = {"description": column.description or None}
    if column.example is not None:
        common["examples"] = [pydantic_core.to_jsonable_python(column.example)]
    if column.nullable:
        common["default"] = None
        optional = f"{column.description} Optional: null or omitted when unknown."
        common["description"] = optional.strip()
    kind = _value_type(column)
    if column.is_category:
        # The schema lists the canonical spellings; the API also accepts what the pipeline
        # normalises to them (case, spacing, aliases), as the description says.
        description = f"{common['description'] or ''} Accepted: a value of the enum in any case "
        description += "and spacing"
        if column.aliases:
            pairs = ", ".join(f"{alias} -> {target}" for alias, target in column.aliases.items())
            description += f", or an alias ({pairs})"
        common["description"] = description.strip() + "."
        common["json_schema_extra"] = {"enum": list(column.categories)}
    if column.nullable:
        kind = kind | None
    return kind, Field(**common)


def _value_type(column: Column) -> Any:
    """The type of a present value, with the column's rules (bounds, categories) attached."""
    if column.is_category:
        return Annotated[
            str, Field(min_length=1, max_length=200), AfterValidator(Spellings(column).__getitem__)
        ]
    # Strict: JSON numbers only (no "12" strings, no booleans), finite, within the bounds;
    # dates as ISO strings "YYYY-MM-DD" only (no timestamps).
    bounds = Field(strict=True, ge=column.minimum, le=column.maximum)
    if column.is_date:
        return Annotated[dt.date, bounds]
    if column.kind == "float":
        return Annotated[float, bounds, Field(allow_inf_nan=False)]
    # An int column takes whole numbers: 3 and, as JSON Schema's "integer" allows, 3.0 (what
    # pandas-made JSON holds); not 3.5. Validated as a float (all in pydantic-core, no Python
    # call per value), documented as an integer. The encoder works in floats either way.
    schema: dict[str, Any] = {"type": "integer"}
    schema.update({key: value for key, value in _json_bounds(column).items() if value is not None})
    return Annotated[
        float, WithJsonSchema(schema), bounds, Field(allow_inf_nan=False), MultipleOf(1)
    ]


def _json_bounds(column: Column) -> dict[str, int | None]:
    return {
        "minimum": None if column.minimum is None else math.ceil(column.minimum),
        "maximum": None if column.maximum is None else math.floor(column.maximum),
    }


def _fields(profile: Profile) -> dict[str, tuple[Any, Any]]:
    return {column.name: _field(column) for column in profile.features}


def _row_config(profile: Profile) -> ConfigDict:
    example = pydantic_core.to_jsonable_python(profile.example_row())
    return ConfigDict(
        extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [example]}
    )


def _row_doc(profile: Profile) -> str:
    return f"One house of the {profile.name!r} profile: every feature, raw values."


def batch_row_type(profile: Profile) -> Any:
    """The rows of a batch: a TypedDict of the same field definitions and config as the one-row
    model (validated into plain dicts). Batch scoring of a CSV (house_price.scoring) validates
    its rows with this very type, so the API and the batch command cannot disagree."""
    annotated = {}
    for column in profile.features:
        kind, info = _field(column)
        annotated[column.name] = (NotRequired if column.nullable else Required)[
            Annotated[kind, info]
        ]
    batch_row = TypedDict("BatchRow", annotated)  # type: ignore[misc]
    batch_row.__doc__ = _row_doc(profile)
    batch_row.__pydantic_config__ = ConfigDict(**_row_config(profile), title="BatchRow")  # type: ignore
    return batch_row


def request_models(profile: Profile, max_rows: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request bodies, generated from the profile: one row, and a batch of rows.

    The rows of a batch are a TypedDict built from the same field definitions and config as
    the one-row model: the same rules, but validated into plain dicts, which is 2-3x faster
    than 10,000 model instances."""
    example = pydantic_core.to_jsonable_python(profile.example_row())
    row_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(**_row_config(profile), title="PredictRequest"),
        __doc__=_row_doc(profile),
        **_fields(profile),
    )
    batch_row = batch_row_type(profile)
    batch_model = create_model(
        "BatchPredictRequest",
        __config__=ConfigDict(
            extra="forbid",
            title="BatchPredictRequest",
            json_schema_extra={"examples": [{"rows": [example, example]}]},
        ),
        __doc__=f"1 to {max_rows} houses; the predictions come back in the same order.",
        rows=(
            list[batch_row],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_rows, description=f"1 to {max_rows} rows."),
        ),
    )
    return row_model, batch_model


# --- serving state -----------------------------------------------------------------------------


@dataclass
class Model:
    """Everything the hot path needs, built once at start-up."""

    bundle: Bundle  # its booster predicts on one thread: single rows and micro-batches
    parallel: xgb.Booster  # the same booster on MODEL_THREADS threads, for large batches
    row_model: type[BaseModel]
    batch_model: type[BaseModel]
    version: str
    reference: Reference | None = None  # drift.json: None for a bundle made without it

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Validated rows -> predictions through the bundle's fast encoder."""
        bundle = self.bundle
        if len(rows) < PARALLEL_MIN_ROWS:  # waking threads costs more than it saves below this
            return bundle.predict_rows(rows)
        return predict(self.parallel, bundle.encoder.encode(rows), bundle.target_transform)


class MicroBatcher:
    """Coalesces concurrent single-row requests into one prediction call, made on a worker
    thread.

    One XGBoost call costs ~0.2-0.4 ms whatever the rows (~1 us each). At most one call is in
    flight: the rows of the requests that arrive meanwhile wait and go together in the next
    one, so batches grow with the load (1 row when alone). The worker thread lets the event
    loop parse, validate and answer other requests while XGBoost runs without the GIL.
    Per-row results do not depend on the batch (the parity tests check it)."""

    def __init__(self, predict_rows: Callable[[Sequence[Mapping[str, Any]]], np.ndarray]) -> None:
        self._predict = predict_rows
        self._pending: list[tuple[Mapping[str, Any], asyncio.Future[float]]] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._drainer: asyncio.Task[None] | None = None

    async def predict(self, row: Mapping[str, Any]) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((row, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    def _values(self, rows: list[Mapping[str, Any]]) -> list[float]:
        return self._predict(rows).tolist()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [row for row, _ in batch]
                try:
                    values = await loop.run_in_executor(self._executor, self._values, rows)
                except Exception as exc:  # reaches every waiting request as its own error
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), value in zip(batch, values, strict=True):
                    if not future.done():  # a request whose client went away is cancelled
                        future.set_result(value)
        finally:
            self._drainer = None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class State:
    def __init__(self) -> None:
        self.model: Model | None = None
        self.batcher: MicroBatcher | None = None
        self.reason = "starting: the model bundle is not loaded yet"


def _load(model_dir: Path, max_rows: int, threads: int) -> Model:
    bundle = load_bundle(model_dir, nthread=1)
    parallel = bundle.booster.copy()
    parallel.set_param({"nthread": threads})
    row_model, batch_model = request_models(bundle.profile, max_rows)
    reference = load_reference(bundle.directory)
    model = Model(bundle, parallel, row_model, batch_model, bundle.version, reference)
    _self_check(model)
    return model


def load_model(
    directory: str | Path, threads: int = 0, max_rows: int = DEFAULT_MAX_BATCH_ROWS
) -> Model:
    """The bundle loaded and self-checked as the API loads it at start-up (large batches on
    `threads` XGBoost threads, 0: XGBoost's choice). BundleError, whatever is wrong, says why
    the API would answer 503 with it."""
    try:
        return _load(Path(directory), max_rows, threads)
    except BundleError:
        raise
    except Exception as exc:  # any fault of the bundle: it cannot be served
        raise BundleError(f"{directory}: cannot serve it ({type(exc).__name__}: {exc})") from exc


def _self_check(model: Model) -> None:
    """The documented example must validate, and predict the same through every path."""
    profile = model.bundle.profile
    try:
        example = pydantic_core.to_json(profile.example_row())  # as a client sends it
        row = model.row_model.model_validate_json(example).__dict__
    except ValidationError as exc:
        raise BundleError(f"self-check: the profile's example row is invalid: {exc}") from exc
    fast = float(model.predict([row])[0])
    many = float(model.predict([row] * (ROW_ENCODER_MAX_ROWS + 1))[-1])
    parallel = float(model.predict([row] * PARALLEL_MIN_ROWS)[-1])
    reference = float(model.bundle.predict_frame(pd.DataFrame([row]))[0])
    if not all(math.isfinite(value) for value in (fast, many, parallel, reference)):
        raise BundleError(f"self-check: non-finite prediction {fast!r}/{many!r}/{reference!r}")
    for value in (fast, many, parallel):
        if abs(value - reference) > SELF_CHECK_RTOL * max(abs(reference), 1.0):
            raise BundleError(f"self-check: fast path {value!r} != pipeline path {reference!r}")


# --- metrics ---------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """prometheus-client's multiprocess directory, when several workers share /metrics."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


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
            "Predicted rows per feature and drift bin (the bundle's training bins; feature "
            '"(prediction)": the predicted value).',
            ["feature", "bin"],
            registry=self.registry,
        )
        self.drift_reference = Gauge(
            "model_drift_reference_share",
            "Share of the train split's rows in each drift bin (the bundle's drift.json).",
            ["feature", "bin"],
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

    def loaded(self, model: Model, drift: bool = True) -> None:
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
            for feature, label, share in live.labels():
                self.drift_reference.labels(feature, label).set(share)
                # Every bin exists from the start (0), so that a share over a window is defined.
                self._drift_children.append(self.drift_rows.labels(feature, label))
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
        multiprocess.MultiProcessCollector(registry)
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
            route = scope.get("route")
            handler = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe(scope["method"], handler, status, time.perf_counter() - started)


# --- helpers for the endpoints -----------------------------------------------------------------


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        pydantic_core.to_json(payload),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _describe(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) if parts else "body"


def error_items(errors: Sequence[Mapping[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    items = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] != ["body"]:  # pydantic's own errors; FastAPI's already start with "body"
            loc.insert(0, "body")
        msg = str(error.get("msg", "invalid"))
        kind = str(error.get("type", "value_error"))
        if kind == "too_long" and loc == ["body", "rows"]:
            got = (error.get("ctx") or {}).get("actual_length")
            msg = f"at most {max_rows} rows per request (MAX_BATCH_ROWS), got {got}"
        elif kind == "too_short" and loc == ["body", "rows"]:
            msg = "at least one row is required"
        elif kind == "multiple_of" and (error.get("ctx") or {}).get("multiple_of") == 1:
            msg = "Input should be a whole number"
        item: dict[str, Any] = {"loc": loc, "msg": f"{_describe(loc)}: {msg}", "type": kind}
        value = error.get("input")
        if value is None or isinstance(value, bool | int | float):
            item["input"] = value if not isinstance(value, float) or math.isfinite(value) else None
        elif isinstance(value, str):
            item["input"] = value[:200]
        ctx = error.get("ctx")
        if ctx:
            item["ctx"] = {key: str(val) for key, val in ctx.items()}
        items.append(item)
    return items


def _validation_error(errors: Sequence[Mapping[str, Any]], max_rows: int) -> Response:
    return _json({"detail": error_items(errors, max_rows)}, status=422)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _unsupported(request: Request) -> Response:
    got = request.headers.get("content-type") or "none"
    return _json({"detail": f"Content-Type must be application/json, got {got}"[:300]}, status=415)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Response:
    return _json({"detail": f"request body larger than {limit} bytes (MAX_BODY_BYTES)"}, 413)


def _unavailable(reason: str) -> Response:
    return _json({"detail": f"model unavailable: {reason}"}, status=503)


def _timing(started: float) -> dict[str, str]:
    return {"Server-Timing": f"app;dur={(time.perf_counter() - started) * 1000:.3f}"}


def int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected an integer >= {minimum}") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: expected an integer >= {minimum}")
    return value


def _openapi_bodies(schema: dict[str, Any], model: Model) -> None:
    """Request bodies generated at start-up, so the OpenAPI document shows the real schema."""
    refs, definitions = models_json_schema(
        [(model.row_model, "validation"), (model.batch_model, "validation")],
        ref_template=SCHEMA_REF,
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(
        definitions.get("$defs", {})
    )
    # validated by the self-check
    example = pydantic_core.to_jsonable_python(model.bundle.profile.example_row())
    bodies = {
        "/predict": (refs[(model.row_model, "validation")], example),
        "/predict/batch": (refs[(model.batch_model, "validation")], {"rows": [example, example]}),
    }
    for path, (ref, value) in bodies.items():
        schema["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref, "example": value}},
        }


# --- the application -----------------------------------------------------------------------


def create_app(model_dir: str | Path | None = None) -> FastAPI:
    """The API for the bundle in `model_dir` (default: $MODEL_DIR, else models/house-price)."""
    directory = Path(model_dir or os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR)
    max_rows = int_env("MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS, 1)
    max_body = int_env("MAX_BODY_BYTES", (1 << 20) + 1024 * max_rows, 1024)
    threads = int_env("MODEL_THREADS", 0, 0)
    drift = int_env("DRIFT_METRICS", 1, 0) > 0
    state = State()
    metrics = Metrics(multiprocess=multiprocess_dir() is not None)

    def predict_micro_batch(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        predictions = state.model.predict(rows)  # type: ignore[union-attr]
        metrics.record(metrics.batch_one, rows, predictions)
        return predictions

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await run_in_threadpool(metrics.flush)  # binning a second's rows: off the loop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            state.model = load_model(directory, threads, max_rows)
            state.batcher = MicroBatcher(predict_micro_batch)
            # Start-up objects (modules, the model) are long-lived: keep them out of the
            # collector's generations, so that a full collection never stalls a request.
            gc.collect()
            gc.freeze()
        except BundleError as exc:  # the process must serve (503) whatever is wrong with it
            state.model = None
            state.reason = str(exc)
            metrics.model_ready.set(0)
            log.error("model not loaded, /health answers 503: %s", state.reason)
        else:
            metrics.loaded(state.model, drift=drift)
            log.info("model %s loaded from %s, self-check passed", state.model.version, directory)
        app.openapi_schema = None  # regenerate with the request bodies of this bundle
        flusher = asyncio.create_task(flush_every_second())
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if state.batcher is not None:
                state.batcher.close()
            metrics.stopped()

    app = FastAPI(
        title="House price API",
        version=API_VERSION,
        description=(
            "Predicts house prices with the model bundle of the DVC pipeline. Request bodies are "
            "generated from the bundle's dataset profile; see the schemas below."
        ),
        lifespan=lifespan,
        # Prometheus metrics below; FastAPI's own OpenTelemetry hooks would only add overhead.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.serving = state
    app.state.metrics = metrics

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            if state.model is not None:
                _openapi_bodies(schema, state.model)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def validation_handler(request: Request, exc: RequestValidationError) -> Response:
        return _validation_error(exc.errors(), max_rows)

    unavailable = {503: {"model": ErrorResponse, "description": "Model not loaded."}}
    body_errors = {
        413: {"model": ErrorResponse, "description": "Body larger than MAX_BODY_BYTES."},
        415: {"model": ErrorResponse, "description": "Content-Type is not application/json."},
        422: {"model": ValidationErrorResponse, "description": "Invalid body; names the field."},
        **unavailable,
    }

    @app.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "Model not ready: why."}},
    )
    async def health() -> Response:
        """200 once the bundle is loaded and its self-check prediction passed; else 503."""
        model = state.model
        if model is None:
            return _json({"status": "unavailable", "reason": state.reason}, status=503)
        return _json({"status": "ok", "model_version": model.version})

    async def accept_json(request: Request) -> tuple[Model, bytes] | Response:
        """What every prediction request passes first: a loaded model, JSON, a bounded body."""
        model = state.model
        if model is None:
            return _unavailable(state.reason)
        if not _is_json(request):
            return _unsupported(request)
        body = await _read_body(request, max_body)
        if body is None:
            return _too_large(max_body)
        return model, body

    @app.post("/predict", response_model=PredictResponse, responses=body_errors)
    async def predict_one(request: Request) -> Response:
        """One house (every feature of the profile, raw values) -> its predicted price."""
        started = time.perf_counter()
        accepted = await accept_json(request)
        if isinstance(accepted, Response):
            return accepted
        model, body = accepted
        try:
            row = model.row_model.model_validate_json(body)
        except ValidationError as exc:
            return _validation_error(exc.errors(include_url=False), max_rows)
        # Micro-batched with the concurrent requests (see MicroBatcher).
        value = await state.batcher.predict(row.__dict__)  # type: ignore[union-attr]
        metrics.predict_one.inc()
        payload = {"prediction": value, "model_version": model.version}
        return _json(payload, headers=_timing(started))

    @app.post("/predict/batch", response_model=BatchPredictResponse, responses=body_errors)
    async def predict_batch(request: Request) -> Response:
        """`{"rows": [house, ...]}` (1 to MAX_BATCH_ROWS rows) -> predictions in row order."""
        started = time.perf_counter()
        accepted = await accept_json(request)
        if isinstance(accepted, Response):
            return accepted
        model, body = accepted

        def work() -> Response:
            try:
                batch = model.batch_model.model_validate_json(body)
            except ValidationError as exc:
                return _validation_error(exc.errors(include_url=False), max_rows)
            rows = batch.rows  # type: ignore[attr-defined]  # plain dicts (BatchRow)
            predictions = model.predict(rows)
            metrics.predict_batch.inc(len(rows))
            metrics.record(metrics.batch_many, rows, predictions)
            payload = {"predictions": predictions.tolist(), "model_version": model.version}
            return _json(payload, headers=_timing(started))

        # Thousands of rows take milliseconds: off the event loop, so /health stays responsive.
        return await run_in_threadpool(work)

    @app.get("/model", responses=unavailable)
    async def model_info() -> Response:
        """The bundle's metadata: version, metrics, params, lineage (data hashes), the feature
        schema, and `mlflow`: the registered model, and the run, version and git commit this
        content version was registered with (`registered: false` when it never was from the
        workspace the bundle comes from)."""
        model = state.model
        if model is None:
            return _unavailable(state.reason)
        profile = model.bundle.profile
        features = [
            {
                "name": column.name,
                "type": column.kind,
                "minimum": column.minimum,
                "maximum": column.maximum,
                "categories": list(column.categories) or None,
                "nullable": column.nullable,
            }
            for column in profile.features
        ]
        metadata = model.bundle.metadata
        registration = model.bundle.registration
        mlflow = {**metadata.get("mlflow", {}), "registered": registration is not None}
        return _json(
            {
                **metadata,
                "mlflow": mlflow | (registration or {}),
                "features": features,
                "max_batch_rows": max_rows,
            }
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        """Prometheus text format: requests (count, latency, in flight) per route and status,
        predictions (rows, batch sizes, predicted prices), drift bins with their reference
        shares, the served model version, the process; every worker's, added up."""
        text = await run_in_threadpool(metrics.exposition)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return app


app = create_app()
