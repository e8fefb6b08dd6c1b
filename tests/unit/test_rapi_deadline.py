"""Every RAPI call has a total deadline: a server that trickles its answer (one header line
every half second, each well within the read timeout) cannot hold the caller past it."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from orchestrator.rapi import Endpoint, RapiClient, RapiUnavailable


@pytest.fixture
def trickling_server():
    """A TCP server that answers every request with a status line, then a header line every
    0.5 s for a minute: never a complete response."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for i in range(120):
                    if stop.wait(0.5):
                        return
                    conn.sendall(f"X-Slow-{i}: y\r\n".encode())
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


@pytest.mark.parametrize("call", ["read", "write"])
def test_a_trickling_answer_ends_at_the_call_s_deadline(trickling_server, call):
    client = RapiClient(Endpoint(trickling_server, "rapi", "secret", False, timeout=1.0, deadline=2.0),
                        read_retries=2)
    started = time.monotonic()
    with pytest.raises(RapiUnavailable, match="no complete answer within 2s") as raised:
        client.info() if call == "read" else client.startup("snf-1")
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"held for {elapsed:.1f}s"  # without the deadline: a minute
    assert "secret" not in str(raised.value)


def test_without_a_deadline_set_it_is_three_read_timeouts():
    endpoint = Endpoint("http://127.0.0.1:1", "u", "p", False, timeout=4.0)
    assert endpoint.deadline_for(4.0) == 12.0
    assert endpoint.deadline_for(30.0) == 34.0  # a long poll keeps its own wait, and one timeout more
