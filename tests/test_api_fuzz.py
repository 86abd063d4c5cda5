"""schemathesis against the API's own OpenAPI document, served by a real uvicorn: generated
requests, valid (positive) and schema-violating (negative), must never get a 5xx, and every
response must match the schema documented for its status code.

Bounded: MAX_EXAMPLES generated cases per operation and generation mode.

The operations are driven with Hypothesis directly (`APIOperation.as_strategy`) rather than
`schemathesis.pytest.from_fixture`: with pytest 9 that loader fails (it reads the removed
`Function._nodeid`), and the schema exists only once the server (a fixture) is up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from api_support import ApiServer, call
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

pytestmark = pytest.mark.slow  # the session pipeline run, real uvicorn servers

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


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only: no proxy from the environment
        yield session


@pytest.fixture(scope="module")
def api_schema(server: ApiServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_every_documented_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert documented == set(OPERATIONS)


def fuzz(
    api_schema: schemathesis.BaseSchema,
    session: requests.Session,
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
        response = case.call_and_validate(session=session, checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    print(f"\n{method} {path} {mode.value}: statuses {dict(sorted(statuses.items()))}")
    return statuses


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_valid_requests(
    api_schema: schemathesis.BaseSchema, http_session: requests.Session, method: str, path: str
) -> None:
    statuses = fuzz(api_schema, http_session, method, path, GenerationMode.POSITIVE)
    assert all(status < 500 for status in statuses)
    assert statuses[200] >= 1  # schema-valid requests do get predictions
    if method in ("GET", "HEAD"):
        assert set(statuses) == {200}


@pytest.mark.parametrize(("method", "path"), WITH_BODY)
def test_invalid_requests(
    api_schema: schemathesis.BaseSchema, http_session: requests.Session, method: str, path: str
) -> None:
    statuses = fuzz(api_schema, http_session, method, path, GenerationMode.NEGATIVE)
    assert all(status < 500 for status in statuses)
    # The API accepts a little more than its schema (category spellings): mostly 4xx then.
    assert sum(count for status, count in statuses.items() if 400 <= status < 500) >= (
        0.9 * statuses.total()
    )


def test_fuzzed_server_is_still_healthy(server: ApiServer) -> None:
    assert server.alive()
    assert call(server.url, "GET", "/health").status == 200
    assert "Traceback" not in server.log_text()
