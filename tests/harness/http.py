"""An app under test served over real HTTP on loopback, for clients that need a socket
(browsers, OpenStack's clients, raw-socket probes)."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def served(app, name: str = "live-api") -> Iterator[str]:
    """The base URL of `app` behind werkzeug's threaded server (one thread per request)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
