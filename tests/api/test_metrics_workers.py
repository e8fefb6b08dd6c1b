"""/metrics under gunicorn with two workers counts every request, whichever worker served
it or the scrape (prometheus-client's multiprocess mode), and asks for its token."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, stop_group, wait_for
from tests.harness.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

HEALTH = re.compile(r'^orchestrator_http_request_seconds_count\{endpoint="/healthz",method="GET",status="200"\} (\S+)$',
                    re.M)


@pytest.fixture
def gunicorn(stack, tmp_path):
    port = free_port()
    (tmp_path / "prometheus").mkdir()
    env = {**stack.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "METRICS_TOKEN": "scrape-me"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "api/gunicorn_conf.py", "--workers", "2",
                             "--bind", f"127.0.0.1:{port}", "api.wsgi:app_from_env()"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{url}/healthz"), 30, what="gunicorn to answer")
        yield url
    finally:
        stop_group(proc)


def _get(url: str, **kwargs):
    try:
        return requests.get(url, timeout=5, **kwargs)
    except requests.ConnectionError:
        return None


def test_every_worker_s_requests_are_counted_by_every_scrape(gunicorn):
    assert requests.get(f"{gunicorn}/metrics", timeout=5).status_code == 401
    seen = []
    for _ in range(6):
        for _ in range(5):
            assert requests.get(f"{gunicorn}/healthz", timeout=5).status_code == 200
        with requests.Session() as fresh:  # a new connection: either worker may answer
            text = fresh.get(f"{gunicorn}/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=5).text
        seen.append(sum(float(n) for n in HEALTH.findall(text)))
    assert seen == sorted(seen), f"a counter went down between scrapes: {seen}"
    assert seen[-1] >= 31, seen  # every /healthz of this test (and the fixture's first one)
