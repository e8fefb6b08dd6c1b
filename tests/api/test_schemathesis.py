"""schemathesis against /openapi.json, in process (WSGI) on the real app and database.

Every operation of the spec is called with generated data, valid (positive) and invalid
(negative), as a user (every method) and as an administrator (reads only: generated
writes would drain, break or remove the stack's backends under the other tests), and every
check schemathesis registers judges every response (CHECKS, below). Three runs:

- the coverage phase (`test_the_api_keeps_its_spec_at_its_bounds`): schemathesis's
  deterministic cases, each bound of each parameter, missing and extra fields, wrong types,
  methods the path does not have, bodies of another media type;
- fuzzing (`test_the_api_keeps_its_spec`), once per seed in SEEDS, each its own test case;
- a stateful run per seed (`test_the_api_keeps_its_spec_over_a_workflow`): chains of calls
  linked by the ids one returns and the next takes, by two users who must not see each
  other's objects.

No response may be a 5xx, disagree with the spec (status code, content type, headers, body
schema), accept invalid data, refuse valid data with a status that is not the API's, answer
without the credentials the spec requires, lose what was just created, serve what was just
deleted, or show one user's object to the other.

Every response (and every probe a check sends) is kept in conftest.RECORDED for the scan
that no RAPI password ever leaves the API.

A failure names its seed: `SCHEMATHESIS_SEEDS=<seed> pytest tests/api/test_schemathesis.py`
replays it; SCHEMATHESIS_SEEDS="1 2 3" runs other seeds instead of the default ones, and
SCHEMATHESIS_SCALE=4 four times as many examples of each.
"""
from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.api import conftest
from tests.integration.helpers import user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

# Four seeds: the whole file stays under three minutes on 2 cores (2m15s with the 50
# operations of today: fuzzing about 20s a seed, a stateful run 8s, the coverage phase 11s).
DEFAULT_SEEDS = (1, 7, 42, 1337)
SEEDS = tuple(int(s) for s in os.environ.get("SCHEMATHESIS_SEEDS", "").replace(",", " ").split()) or DEFAULT_SEEDS
# Per operation, identity and generation mode, for each seed. SCHEMATHESIS_SCALE=<n> runs n
# times as many examples (and chains).
SCALE = int(os.environ.get("SCHEMATHESIS_SCALE", "1"))
MAX_EXAMPLES = {"positive": 25 * SCALE, "negative": 10 * SCALE}
# Chains of up to 20 calls: a use after free needs create -> ... -> delete -> read in one chain.
# With an image DELETE made a no-op, 40 chains of 10 found it on one seed in five, 80 chains
# of 10 (as long to run as 40 of 20) on four in eight, 40 chains of 20 on each of the eight.
STATEFUL = {"max_examples": 40 * SCALE, "stateful_step_count": 20, "max_restarts": 10}
# Server-sent events stream until the server's operation ends: not a request/response.
SKIP = {("GET", "/api/v1/servers/{server_id}/events")}
# Left out of the users' workflows (the stateful run).
ADMINISTRATORS_ONLY = (r"^/api/v1/(backends|reconciliation)|^/api/v1/servers/(import|\{server_id\}/inspect)$"
                       r"|^/api/v1/networks/\{network_id\}/inspect$|/cancel$")

# The statuses the API answers to input it refuses, always with its JSON error body
# ({code, status, message, errors?}): 400 unreadable JSON, 401/403 credentials, 404 no such
# thing (or not the caller's), 405 no such method, 409 the resource's state, 413 too large,
# 415 not JSON, 422 invalid. A 5xx is never a rejection (not_a_server_error).
REJECTED = ["400", "401", "403", "404", "405", "409", "413", "415", "422"]
# What valid data may get: what schemathesis accepts by default (2xx, 3xx: 304 is the one the
# API answers, 401, 403, 404, 409), without 429 (the API has no rate limit) and 5xx.
ACCEPTED = ["2xx", "304", "401", "403", "404", "409"]
# And 422, the API's answer to valid data the spec's JSON Schema cannot describe, on the
# operations that take such data (_undescribed): free text in the query string (names and user
# ids must be printable: no control, format, private-use or unassigned code point, not blank
# only, validation.check_name; a cursor must be one the API gave) and bodies (names, ids that
# must name a flavor, image, backend or subnet that exists, what each action takes, the
# deployment's OS providers and location schemes, a flavor product's size, a CIDR's host bits,
# a cluster that answers). Any other operation (GET /flavors, GET /backends, the reads by id,
# DELETE, retry...) refusing valid data with a 422 fails.

# A response slower than this is a failure (max_response_time): nothing the API answers
# waits on a cluster for a user, nor on anything else for long.
MAX_RESPONSE_TIME_S = 10.0

CHECKS_CONFIG = {
    "negative_data_rejection": {"expected-statuses": REJECTED},
    "positive_data_acceptance": {"expected-statuses": ACCEPTED},
    "max_response_time": MAX_RESPONSE_TIME_S,
}


def _undescribed(spec: dict) -> list[str]:
    """The operations whose input the spec cannot fully describe (ACCEPTED, above): those with a
    body, or free text (a string that is no enum) in their query string."""
    labels = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            free_text = any(parameter.get("in") == "query" and parameter["schema"].get("type") == "string"
                            and "enum" not in parameter["schema"] for parameter in operation.get("parameters", []))
            if "requestBody" in operation or free_text:
                labels.append(f"{method.upper()} {path}")
    return labels


def _config(undescribed: list[str], **extra):
    import schemathesis

    return schemathesis.Config.from_dict({"checks": CHECKS_CONFIG, **extra, "operations": [{
        "include-name": undescribed,
        "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}}}]})


def _all_checks(schema) -> list[str]:
    """Every check schemathesis registers, all enabled: Case.validate_response runs the enabled
    ones (and max_response_time, configured above) when it is given no list.

    Where each one bites:
    - not_a_server_error, status_code_conformance, content_type_conformance,
      response_headers_conformance, response_schema_conformance: every response;
    - negative_data_rejection / positive_data_acceptance: negative / positive cases;
    - ignored_auth: every 2xx, replayed without the token and with a wrong one;
    - unsupported_method, allow_header_conformance: the coverage phase's calls with methods
      the path does not declare, OPTIONS among them;
    - missing_required_header: the coverage phase's cases without a required header; the
      spec requires none (credentials are a security scheme, which ignored_auth tests), so
      it has nothing to find today and runs in case one is added;
    - use_after_free, ensure_resource_availability: chains of calls (the recorder of the
      stateful run): a case called alone has no history (and _kept_by_design: what the API
      keeps after a DELETE by design);
    - object_level_authorization: two identities declared as peers (the stateful run's).
    """
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    names = CHECKS.get_all_names()
    disabled = [name for name in names if not schema.config.checks.get_by_name(name=name).enabled]
    assert not disabled, f"checks not enabled: {disabled}"
    assert schema.config.checks.max_response_time.enabled
    # 422 is valid data's answer where _undescribed says, and nowhere else.
    undescribed = set(_undescribed(schema.raw_schema))
    assert {"GET /api/v1/servers", "POST /api/v1/servers", "GET /api/v1/operations"} <= undescribed
    assert not {"GET /api/v1/flavors", "GET /api/v1/backends", "GET /api/v1/servers/{server_id}"} & undescribed
    for result in schema.get_all_operations():
        operation = result.ok()
        statuses = schema.config.checks_config_for(operation=operation).positive_data_acceptance.expected_statuses
        assert ("422" in statuses) is (operation.label in undescribed), (operation.label, statuses)
    return names


def _record(label: str, path: str, response) -> None:
    conftest.RECORDED.append(conftest.Recorded(label, path, response.status_code, json.dumps(dict(response.headers)),
                                               response.content.decode(errors="replace") if response.content else ""))


class Run:
    """Counts, statuses and failures of a run; each case is called, recorded and checked here."""

    def __init__(self, name: str):
        self.name = name
        self.cases = 0
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self.started = time.monotonic()

    def count(self, response) -> None:
        self.cases += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1

    def call_and_check(self, case, headers: dict, kind: str) -> None:
        from schemathesis.core.failures import FailureGroup
        from schemathesis.engine.recorder import ScenarioRecorder

        label = f"{case.operation.method.upper()} {case.operation.path}"
        try:
            response = case.call()
        except Exception as exc:  # the app under TESTING propagates what would have been a 500
            self.failures.append(f"{label} ({kind}): {type(exc).__name__}: {exc}\n{case.as_curl_command()}")
            return
        self.count(response)
        _record(label, case.formatted_path, response)
        # The probes checks send (ignored_auth: no token, a wrong one) are recorded too.
        recorder = ScenarioRecorder(label=label)
        recorder.record_case(parent_id=None, case=case)
        try:
            case.validate_response(response, headers=headers, recorder=recorder)
        except FailureGroup as exc:
            for failure in exc.exceptions:
                self.failures.append(self.describe(label, kind, case, response, failure))
        for case_id, interaction in recorder.interactions.items():
            if case_id != case.id and interaction.response is not None:
                self.count(interaction.response)
                _record(f"{label} (probe)", interaction.request.uri, interaction.response)

    def describe(self, label: str, kind: str, case, response, failure) -> str:
        body = response.content[:400].decode(errors="replace") if response.content else ""
        return (f"{label} ({self.name}, {kind}): {failure.title}\n{failure.message}\n"
                f"{case.as_curl_command()}\n-> {response.status_code} {body}")

    def report(self, capsys, extra: str = "") -> None:
        with capsys.disabled():
            print(f"\nschemathesis {self.name}: {self.cases} calls in {time.monotonic() - self.started:.1f}s; "
                  f"statuses {dict(sorted(self.statuses.items()))}; {extra}{len(self.failures)} failing")

    def assert_clean(self) -> None:
        assert not self.failures, f"{len(self.failures)} failures:\n\n" + "\n\n".join(self.failures[:40])
        assert not any(code >= 500 for code in self.statuses)
        assert not conftest.leaks(), conftest.leaks()


def _schema(stack, **config):
    """/openapi.json as the checks read it: without the `default` response flask-smorest puts
    on every operation (the error shape of any other status), with which status_code_conformance
    passes every status. So every status the API answers must be one its operation lists."""
    import schemathesis

    spec = stack.app.test_client().get("/openapi.json").get_json()
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("default", None)
    schema = schemathesis.openapi.from_dict(spec, config=_config(_undescribed(spec), **config))
    schema.app = stack.app  # called in process (WSGI), as schemathesis.openapi.from_wsgi does
    return schema


def _targets(stack, schema, user: dict):
    """(operation, headers, path parameters) to run: each operation as the user, each read as
    an administrator too, on random ids and, where its path takes ids, on things that exist
    (random ids mostly miss)."""
    status, created = stack.create_server(headers=user, name="fuzzed")
    assert status == 202, created
    stack.wait_status(created["id"], {"ACTIVE"})
    known = {"server_id": created["id"], "op_id": created["operation"]["id"], "flavor_id": 1, "image_id": 1,
             "backend_id": 1}
    operations = [result.ok() for result in schema.get_all_operations()]
    targets = []
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key in SKIP:
            continue
        names = {p.name for p in operation.path_parameters}
        for headers in [user] + ([stack.admin_headers] if key[0] == "GET" else []):
            targets.append((operation, headers, None))
            if names and names <= set(known):
                targets.append((operation, headers, {n: known[n] for n in names}))
    return operations, targets


def test_the_api_keeps_its_spec_at_its_bounds(stack, capsys):
    """The coverage phase: deterministic, so once, not per seed."""
    from schemathesis import GenerationMode
    from schemathesis.generation.drivers import CoverageGenerator
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.generation.overrides import Override

    schema = _schema(stack)
    _all_checks(schema)
    user = user_headers(stack, "fuzzer")
    operations, targets = _targets(stack, schema, user)
    run = Run("coverage")
    tested = set()
    for operation, headers, path_parameters in targets:
        # Methods the path does not declare are sent once per path and schema: again for each
        # identity and each set of ids, so that a 405 (and its Allow) is seen on what exists.
        schema.coverage_unexpected_methods_seen.clear()
        cases = CoverageGenerator(
            operation=operation, generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
            auth_storage=None, override=Override(headers=dict(headers), path_parameters=path_parameters or {}),
            feedback=FeedbackSources())
        for case in cases:
            run.call_and_check(case, headers, case.meta.generation.mode.value if case.meta else "coverage")
        tested.add((operation.method.upper(), operation.path))
    run.report(capsys, f"{len(tested)} of {len(operations)} operations; ")
    run.assert_clean()
    assert len(tested) == len(operations) - len(SKIP)


def _fuzz(run: Run, operation, headers: dict, path_parameters: dict | None, mode, seed_: int) -> None:
    @seed(seed_)
    @settings(max_examples=MAX_EXAMPLES[mode.value], deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=path_parameters))
    def call(case):
        run.call_and_check(case, headers, mode.value)

    call()


@pytest.mark.parametrize("seed_", SEEDS, ids=lambda s: f"seed={s}")
def test_the_api_keeps_its_spec(stack, seed_, capsys):
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = _schema(stack)
    _all_checks(schema)
    user = user_headers(stack, "fuzzer")
    operations, targets = _targets(stack, schema, user)
    run = Run(f"fuzzing seed={seed_}")
    tested, nothing_to_negate = set(), 0
    for operation, headers, path_parameters in targets:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and path_parameters:
                continue  # invalid ids are the random runs' to send

            try:
                _fuzz(run, operation, headers, path_parameters, mode, seed_)
            except Unsatisfiable:
                # Negative mode on an operation with nothing to make invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no positive case could be generated"
                nothing_to_negate += 1
        tested.add((operation.method.upper(), operation.path))
    run.report(capsys, f"{len(tested)} of {len(operations)} operations; {nothing_to_negate} runs with nothing "
                       "to make invalid; ")
    run.assert_clean()
    assert len(tested) == len(operations) - len(SKIP)


def _kept_by_design(failure, response, spec: dict) -> bool:
    """Whether a use_after_free failure is the API's documented answer, not a deleted resource
    served: a read after a DELETE is a 404 (networks, subnets, ports and images are gone at
    once) except where the DELETE was accepted (202): a server lives until its destroy
    operation ends. Any other answer after a DELETE fails."""
    from schemathesis.openapi.checks import UseAfterFree

    if not isinstance(failure, UseAfterFree):
        return False
    method, path = failure.operation.split(" ", 1)
    return {code for code in spec["paths"][path][method.lower()]["responses"] if code.startswith("2")} == {"202"}


@pytest.mark.parametrize("seed_", SEEDS, ids=lambda s: f"seed={s}")
def test_the_api_keeps_its_spec_over_a_workflow(stack, seed_, capsys, tmp_path):
    """schemathesis's state machine: links inferred from the spec feed one call's ids to the
    next (POST /images -> GET, DELETE /images/{image_id}, ...); every call is a user's, as
    `alice`, and whatever alice reads is read again as `bob`, who must not get it."""
    from hypothesis.errors import FlakyStrategyDefinition
    from hypothesis.stateful import run_state_machine_as_test
    from schemathesis.core.failures import FailureGroup

    alice, bob = user_headers(stack, "alice"), user_headers(stack, "bob")
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"auth": [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": headers["Authorization"]}]}
        for name, headers in (("alice", alice), ("bob", bob))]}))
    schema = _schema(stack, auth={"wfc": {"path": str(peers), "user": "alice", "peers": ["alice", "bob"]}})
    _all_checks(schema)
    spec = schema.raw_schema
    # The operations a user may call: administrators' answer alice 403 and end the chain.
    schema = (schema.exclude(path=[path for _method, path in SKIP])
              .exclude(path_regex=ADMINISTRATORS_ONLY)
              .exclude(method=["POST", "PATCH", "DELETE"], path_regex="^/api/v1/flavors"))
    run = Run(f"stateful seed={seed_}")
    first_seen: set[tuple[str, str]] = set()

    @schema.hook("map_case")
    def _chains_the_checks_can_judge(context, case):
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return case
        if case.operation.label == "POST /api/v1/images":
            # Which locations and OS providers a deployment allows are settings the spec cannot
            # state (the fuzzing runs send every kind of image): a valid image starts the
            # register -> read -> read as bob -> delete -> read chains.
            case.body = {"name": "workflow image", "location": "workflow.img"}
        elif case.method == "GET" and any(p.name == "If-None-Match" for p in case.operation.headers):
            # ensure_resource_availability judges a 404 only when every parameter came from the
            # chain, and no link fills the reads' optional If-None-Match (the ETag's): one that
            # matches no ETag leaves the answer a 200 and lets the check judge.
            case.headers = {**(case.headers or {}), "If-None-Match": '"matches-nothing"'}
        return case

    examples = [0]

    class Workflow(schema.as_state_machine()):
        def __init__(self):
            super().__init__()
            self.called: set[str] = set()
            examples[0] += 1

        def after_call(self, response, case):
            super().after_call(response, case)
            self.called.add(case.id)
            run.count(response)
            _record(f"{case.method} {case.operation.path}", case.formatted_path, response)

        def validate_response(self, response, case, *args, **kwargs):
            # Each failure as it is first seen: hypothesis then shrinks the chain by replaying it
            # on a database that has moved on, which can end in FlakyStrategyDefinition instead.
            try:
                super().validate_response(response, case, *args, **kwargs)
            except FailureGroup as exc:
                failures = [failure for failure in exc.exceptions if not _kept_by_design(failure, response, spec)]
                for failure in failures:
                    if (case.operation.label, failure.title) not in first_seen:
                        first_seen.add((case.operation.label, failure.title))
                        run.failures.append(run.describe(case.operation.label, "workflow", case, response, failure))
                if failures:
                    raise FailureGroup(failures, str(exc)) from None

        def teardown(self):
            # The recorder also holds what the checks sent (ignored_auth's and the peer's probes).
            for case_id, interaction in self.recorder.interactions.items():
                if case_id not in self.called and interaction.response is not None:
                    run.count(interaction.response)
                    _record("(probe)", interaction.request.uri, interaction.response)
            super().teardown()

    remaining, restarts = STATEFUL["max_examples"], 0
    while remaining > 0 and not run.failures:
        started = examples[0]
        try:
            run_state_machine_as_test(seed(seed_ if not restarts else seed_ * 1000 + restarts)(Workflow),
                                      settings=settings(max_examples=remaining, deadline=None, database=None,
                                                        stateful_step_count=STATEFUL["stateful_step_count"],
                                                        phases=[Phase.generate],
                                                        suppress_health_check=list(HealthCheck)))
            break
        except FailureGroup as exc:  # a BaseExceptionGroup: the checks' failures, on the shrunk chain
            run.failures.append(f"stateful seed={seed_}, the shortest chain: {exc}")
        except FlakyStrategyDefinition as exc:
            # Hypothesis replays a chain's choices (to mutate it) on a database that has moved on:
            # other ids, other links, so other draws. With no check failing first (that would be in
            # run.failures, by validate_response above) this is no finding about the API, as
            # schemathesis's own runner counts it: the examples left run on a seed derived from
            # this one. A run that keeps restarting tests nothing, and fails.
            if restarts == STATEFUL["max_restarts"]:
                run.failures.append(f"stateful seed={seed_}: {restarts} restarts: {type(exc).__name__}: {exc}")
            remaining -= max(1, examples[0] - started)
            restarts += 1
        except Exception as exc:  # what the app propagated (TESTING), a 500; FlakyFailure: one that did not recur
            run.failures.append(f"stateful seed={seed_}: {type(exc).__name__}: {exc}")
    run.report(capsys, f"{examples[0]} chains ({restarts} restarts after a replay drew differently); ")
    run.assert_clean()
