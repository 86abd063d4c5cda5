# The serving image: the FastAPI app (src/house_price/api/) and the model bundle it serves.
#   docker build -t house-price-model .        (tests here: --build-arg BASE_IMAGE=local/python:3.11)
#   docker run --rm -p 8000:8000 house-price-model
# Only the serving dependencies (requirements-serve.txt: no pandas, scikit-learn, SciPy, dvc or
# mlflow; XGBoost's C library from xgboost-cpu, called through ctypes by house_price.serving.booster).
ARG BASE_IMAGE=python:3.11-slim

# --- build: a venv with the pinned serving dependencies and the package ---------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# binutils: `strip`, for the debug symbols below (this stage only; the base image's version).
# hadolint ignore=DL3008
RUN apt-get update && apt-get install --yes --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements-serve.txt ./
# --no-deps: the list is complete, and xgboost-cpu's dependency SciPy is not wanted (the API
# uses only the wheel's libxgboost.so, never the xgboost Python package, which imports SciPy).
RUN pip install --no-cache-dir --no-deps --requirement requirements-serve.txt
COPY pyproject.toml ./
COPY src/ src/
# Not editable, no dependencies (all pinned above). Then drop what serving never runs: the
# installers, numpy's bundled test suite, and the debug symbols that some wheels' extension
# modules carry (uvloop, PyYAML, httptools: ~15 MB; files without them are left untouched).
RUN pip install --no-cache-dir --no-deps . \
    && find /opt/venv/lib/python3.11/site-packages/numpy -depth -type d -name tests -exec rm -rf {} + \
    && find /opt/venv -name '*.so' -type f \
        -exec sh -c 'readelf -S "$1" | grep -q "\.debug_info" && strip --strip-debug "$1"' sh {} \; \
    && pip uninstall --yes pip setuptools
# The bundle, readable (not writable) by the unprivileged user that runs the server.
COPY models/house-price/ /model/
RUN chmod -R u=rwX,go=rX /model

# --- runtime ------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="house-price-model" \
      org.opencontainers.image.description="House-price prediction API (FastAPI) with its model bundle"
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /model /app/model
ENV PATH=/opt/venv/bin:$PATH \
    MODEL_DIR=/app/model \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    KEEP_ALIVE_S=75 \
    GRACEFUL_SHUTDOWN_S=7 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Readiness: 200 only once the bundle is loaded and its self-check passed (503 otherwise);
# /livez is liveness, / answers too (see house_price/api/routes/health.py). No curl in slim
# images: house_price.healthcheck asks /readyz where the server listens, HOST and PORT as the
# server reads them (HOST 0.0.0.0 on 127.0.0.1, :: on ::1), without any proxy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "house_price.healthcheck"]
# `docker stop` sends this, then SIGKILL after its timeout (10 s by default; Cloud Run: 10 s):
# the server lets in-flight requests finish for GRACEFUL_SHUTDOWN_S (7 s), runs its shutdown
# and exits inside that window. A stop timeout cannot be set in an image: compose.yaml
# (stop_grace_period) and deploy/kubernetes (terminationGracePeriodSeconds) declare it.
STOPSIGNAL SIGTERM
# uvicorn through house_price.serve: one worker by default (scale with replicas), or
# WEB_CONCURRENCY workers whose /metrics add up (prometheus-client multiprocess mode).
# PORT may be changed at `docker run -e PORT=`. HOST: 0.0.0.0 for a container's own network;
# 127.0.0.1 when run with --network host.
CMD ["python", "-m", "house_price.serve"]
