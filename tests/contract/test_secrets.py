"""Credentials never show: not in reprs, messages, tracebacks or logs."""
from __future__ import annotations

import logging
import traceback

import pytest

from orchestrator.rapi import Endpoint, RapiClient, RapiError

from .conftest import PASSWORD, USER, done, spec

SECRET = "Zq9-unguessable-rapi-passw0rd"


def _all_text(exc: BaseException) -> str:
    """Everything an exception could put in a log: str, repr, args, the formatted traceback
    with its chained causes and contexts, and its attributes."""
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    parts += traceback.format_exception(exc)
    seen, cur = set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts += [str(cur), repr(cur)]
        cur = cur.__cause__ or cur.__context__
    return "\n".join(parts)


def test_password_never_shown(make_cluster, users_file, caplog, tmp_path):
    """rapi.rst: "Users and passwords" (HTTP basic authentication): the password is sent as
    credentials only; it appears in no repr, exception, traceback or log line, whatever fails."""
    with open(users_file, "a") as fh:
        fh.write(f"secretive {SECRET} write\n")
    cluster = make_cluster()
    tls_cluster = make_cluster(tls=True)
    caplog.set_level(logging.DEBUG)
    endpoint = Endpoint(cluster.url, "secretive", SECRET, timeout=0.5)
    client = RapiClient(endpoint, read_retries=1)
    texts = [str(endpoint), repr(endpoint), str(client), repr(client)]

    assert done(client, client.create_instance(spec("s1"), reason="op:1"))["status"] == "success"
    failures = [
        lambda: done(client, client.create_instance(spec("s1"))),        # JobFailed (already exists)
        lambda: client.instance("nosuch"),                                # 404
        lambda: client.wait_for_job_change(1, "status"),                  # 400
        lambda: RapiClient(Endpoint(cluster.url, "secretive", SECRET + "x", timeout=0.5)).info(),  # 401
        lambda: RapiClient(Endpoint(tls_cluster.url, "secretive", SECRET, timeout=0.5), read_retries=0).info(),
        lambda: RapiClient(Endpoint(cluster.url.replace("http://", f"http://secretive:{SECRET}@"), "", "",
                                    timeout=0.5)).instance("nosuch"),    # credentials in the URL
    ]

    def unreachable():
        cluster.down()
        try:
            client.info()
        finally:
            cluster.up()

    def late():
        cluster.faults.latency = 1.0
        try:
            client.startup("s1")
        finally:
            cluster.faults.latency = 0.0

    def broken():
        cluster.faults.http_error_rate = 1.0
        try:
            client.jobs()
        finally:
            cluster.faults.http_error_rate = 0.0

    for fail in failures + [unreachable, late, broken]:
        with pytest.raises(RapiError) as err:
            fail()
        texts.append(_all_text(err.value))
    url_client = RapiClient(Endpoint(cluster.url.replace("http://", f"http://secretive:{SECRET}@"), "", ""))
    assert url_client.instance("s1")["name"] == "s1"  # URL credentials still authenticate
    texts += [repr(url_client), str(url_client)]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    joined = "\n".join(texts)
    assert "secretive" in joined  # the user name may show; the password may not
    assert SECRET not in joined


def test_endpoint_and_client_repr(cluster):
    """rapi.rst: "Users and passwords": the address and user identify a client; the password never."""
    client = RapiClient(Endpoint(cluster.url, USER, PASSWORD))
    assert repr(client) == (f"RapiClient(base_url={cluster.url!r}, username={USER!r}, verify=True, "
                            "timeout=10.0)")
    assert PASSWORD not in repr(client.endpoint) and PASSWORD not in str(client.endpoint)
    client.close()
