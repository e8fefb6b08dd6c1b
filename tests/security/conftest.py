"""The stack's API served on a real threaded HTTP server in this process, for tests that
fire many requests at once from real HTTP clients (`requests` in a thread pool)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.harness.http import served


@pytest.fixture
def live(stack) -> Iterator[str]:
    """The base URL of `stack.app` behind werkzeug's threaded server (one thread per request)."""
    with served(stack.app) as url:
        yield url


def at_once(count: int, request: Callable[[], requests.Response], timeout: float = 60.0) -> list[requests.Response]:
    """`count` calls of `request`, each on its own thread and released together by a barrier."""
    barrier = threading.Barrier(count)

    def one() -> requests.Response:
        barrier.wait(timeout)
        return request()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one) for _ in range(count)]
        return [future.result(timeout=timeout) for future in futures]
