"""schemathesis against /openapi.json, in process (WSGI) on the real app and database.

Every operation of the spec is called with generated data, valid (positive) and invalid
(negative), as a user (every method) and as an administrator (reads only: generated
writes would drain, break or remove the stack's backends under the other tests). No
response may be a 5xx or disagree with the spec: status code, content type, headers and
body schema.
"""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.api import conftest
from tests.integration.helpers import user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

# Per operation and generation mode; keeps the whole run well under a minute on 2 cores.
MAX_EXAMPLES = {"positive": 25, "negative": 10}
# Server-sent events stream until the server's operation ends: not a request/response.
SKIP = {("GET", "/api/v1/servers/{server_id}/events")}


def _checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                                   response_schema_conformance, status_code_conformance)

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
            response_schema_conformance]


def _run(operation, headers: dict, mode, checks, counts: dict, failures: list, path_parameters=None) -> None:
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.failures import FailureGroup

    label = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=MAX_EXAMPLES[mode.value], deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=path_parameters))
    def call(case):
        response = case.call()
        counts["cases"] += 1
        counts["statuses"][response.status_code] = counts["statuses"].get(response.status_code, 0) + 1
        conftest.RECORDED.append(conftest.Recorded(label, case.formatted_path, response.status_code,
                                                   json.dumps(dict(response.headers)),
                                                   response.content.decode(errors="replace")))
        case.validate_response(response, checks=checks, headers=headers)

    try:
        call()
    except Unsatisfiable:
        # Negative mode on an operation with nothing to make invalid (no parameters, no body).
        assert mode.value == "negative", f"{label}: no positive case could be generated"
        counts["no_negative"] += 1
    except FailureGroup as exc:
        failures.append(f"{label} ({mode.value}): {exc}")
    except Exception as exc:  # the app under TESTING propagates what would have been a 500
        failures.append(f"{label} ({mode.value}): {type(exc).__name__}: {exc}")


def test_the_api_keeps_its_spec(stack, capsys):
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_wsgi("/openapi.json", stack.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    user = user_headers(stack, "fuzzer")
    checks = _checks()
    counts = {"cases": 0, "statuses": {}, "no_negative": 0}
    failures: list[str] = []
    tested = set()
    # Random ids mostly miss: each operation on a path with ids also runs on things that exist.
    status, created = stack.create_server(headers=user, name="fuzzed")
    assert status == 202, created
    stack.wait_status(created["id"], {"ACTIVE"})
    known = {"server_id": created["id"], "op_id": created["operation"]["id"], "flavor_id": 1, "image_id": 1,
             "backend_id": 1}
    started = time.monotonic()
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key in SKIP:
            continue
        runs = [user] + ([stack.admin_headers] if key[0] == "GET" else [])
        names = {p.name for p in operation.path_parameters}
        for headers in runs:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, headers, mode, checks, counts, failures)
            if names and names <= set(known):
                _run(operation, headers, GenerationMode.POSITIVE, checks, counts, failures,
                     path_parameters={n: known[n] for n in names})
        tested.add(key)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nschemathesis: {len(tested)} of {len(operations)} operations, {counts['cases']} cases in "
              f"{elapsed:.1f}s; statuses {dict(sorted(counts['statuses'].items()))}; "
              f"{counts['no_negative']} runs with nothing to make invalid; {len(failures)} failing")
    assert not failures, "\n\n".join(failures)
    assert len(tested) == len(operations) - len(SKIP)
    assert not any(code >= 500 for code in counts["statuses"])
    assert not conftest.leaks(), conftest.leaks()
