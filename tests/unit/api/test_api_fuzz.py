"""schemathesis against the API's own OpenAPI document, the app in-process (schemathesis' ASGI
transport, on the tiny bundle): generated requests, valid (positive) and schema-violating
(negative), must never get a 5xx, and every response must match the schema documented for its
status code.

Bounded: MAX_EXAMPLES generated cases per operation and generation mode.

The operations are driven with Hypothesis directly (`APIOperation.as_strategy`) rather than
`schemathesis.pytest.from_fixture`: with pytest 9 that loader fails (it reads the removed
`Function._nodeid`), and the schema exists only once the app (a fixture) is made."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.python import asgi

from house_price.api import create_app

MAX_EXAMPLES = 50
CHECKS = [not_a_server_error, response_schema_conformance]
OPERATIONS = [
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/livez"),
    ("HEAD", "/livez"),
    ("GET", "/readyz"),
    ("HEAD", "/readyz"),
    ("GET", "/health"),
    ("HEAD", "/health"),
    ("GET", "/model"),
    ("GET", "/metrics"),
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
]
WITH_BODY = [(method, path) for method, path in OPERATIONS if method == "POST"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """Every error the app logs while this module fuzzes it (what uvicorn's log would show)."""
    handler = Collect()
    logging.getLogger().addHandler(handler)
    try:
        yield handler.records
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
def app(bundle_dir: Path, errors_logged: list[logging.LogRecord]) -> FastAPI:
    """One app per test: schemathesis' pytest plugin ends the lifespans it started with each
    test, and an app's lifespan runs once."""
    return create_app(bundle_dir)


@pytest.fixture
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_documented_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert documented == set(OPERATIONS)


def fuzz(
    api_schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    mode: GenerationMode,
) -> Counter[int]:
    operation = api_schema[path][method]
    statuses: Counter[int] = Counter()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    print(f"\n{method} {path} {mode.value}: statuses {dict(sorted(statuses.items()))}")
    return statuses


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_valid_requests(api_schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    statuses = fuzz(api_schema, method, path, GenerationMode.POSITIVE)
    assert all(status < 500 for status in statuses)
    assert statuses[200] >= 1  # schema-valid requests do get predictions
    if method in ("GET", "HEAD"):
        assert set(statuses) == {200}


@pytest.mark.parametrize(("method", "path"), WITH_BODY)
def test_invalid_requests(api_schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    statuses = fuzz(api_schema, method, path, GenerationMode.NEGATIVE)
    assert all(status < 500 for status in statuses)
    # The API accepts a little more than its schema (category spellings): mostly 4xx then.
    assert sum(count for status, count in statuses.items() if 400 <= status < 500) >= (
        0.9 * statuses.total()
    )


def test_fuzzed_server_is_still_healthy(
    app: FastAPI, api_schema: schemathesis.BaseSchema, errors_logged: list[logging.LogRecord]
) -> None:
    """Runs after the fuzzing: no fuzzed request made the app log an error with a traceback
    (what uvicorn's log would show), and the app still answers."""
    with asgi.get_client(app) as client:
        assert client.get("/health").status_code == 200
    assert not [record for record in errors_logged if record.exc_info], errors_logged
