"""The serving API: the served model behind FastAPI, with Prometheus metrics on the same port.
HTTP only: the bundle, the served model, the request models and the limits are the serving core
(house_price.serving), which batch scoring and the MLflow model use too. Of the package, only
the server launcher (house_price.serve) imports this one.

    uvicorn house_price.api:app --host 127.0.0.1 --port 8000     (MODEL_DIR, MAX_BATCH_ROWS)

Endpoints: GET|HEAD /livez (liveness), /readyz and /health (readiness), / (service info),
POST /predict (one row), POST /predict/batch ({"rows": [...]}),
GET /model (bundle metadata), GET /metrics (Prometheus text), /docs, /redoc (their assets
served here: no CDN) and /openapi.json.

The bundle is loaded once, at start-up (lifespan), as a `ServedModel` (serving/served.py). A
missing or broken bundle does not stop the process: it serves, /health and the predict endpoints
answer 503 with the reason, and the reason is logged. /health is 200 only after a self-check:
the profile's example row, validated by the request model, predicted by every fast path as the
pipeline's own transformer predicted it when the bundle was packaged (metadata.json). Serving
needs numpy, PyYAML, pydantic and XGBoost's C library only (house_price.serving.bundle): no
pandas, scikit-learn, SciPy or xgboost Python package.

Request models are generated from the bundle's profile (house_price.serving.requests: types,
bounds, allowed categories with the pipeline's normalisation, no unknown fields, no
NaN/Infinity). Request bodies are validated straight from the raw bytes by pydantic-core (one
pass, no intermediate `json.loads`): every error, malformed JSON included, is a 422 whose
message names the field.

The package, shaped like the full-stack FastAPI template:

    core/config.py   Settings: every environment variable, read once (see there; the serving
                     core's limits come from house_price.serving.limits)
    schemas.py       response models (the request models: house_price.serving.requests)
    batching.py      MicroBatcher: concurrent /predict requests coalesced into one call
    metrics.py       Metrics (Prometheus, drift counting, multiprocess), MetricsMiddleware
    responses.py     JSON responses and error bodies; ApiError
    deps.py          the app's Serving state and the dependencies (ScoringDep, ModelDep, ...)
    protocol.py      the HTTP protocol of `house_price.serve`: header, count and time limits
    routes/          health (probes, /model), predict, metrics, docs: one router each
    main.py          create_app: the app factory

`app` is created on first access (`house_price.api:app`, as uvicorn loads it), so importing a
part (the settings, for `house_price.serve`) builds no app and no metrics.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: `house_price.serve` reads `house_price.api.core.config` in a supervising process
    # that never serves, without importing FastAPI, XGBoost and prometheus-client.
    if name == "create_app":
        from house_price.api.main import create_app

        return create_app
    if name == "app":
        from house_price.api.main import create_app

        app = create_app()
        globals()["app"] = app  # created once; later lookups find it directly
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
