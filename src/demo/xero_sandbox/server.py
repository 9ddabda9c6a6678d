"""Serve a WSGI app (usually the sandbox) on a free local port in a background thread.

    url, stop = run_in_thread(app)          # plain
    with run_in_thread(app) as (url, stop): # or as a context manager; stops on exit
        ...
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log lines: tests make thousands of calls."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


class RunningServer(NamedTuple):
    base_url: str
    stop: Any  # Callable[[], None]; idempotent

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0,
                  quiet: bool = True) -> RunningServer:
    """Start `app` with werkzeug's threaded server; returns (base_url, stop)."""
    server: BaseWSGIServer = make_server(
        host, port, app, threaded=True,
        request_handler=_QuietHandler if quiet else WSGIRequestHandler,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"xero-sandbox:{server.server_port}", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return RunningServer(f"http://{host}:{server.server_port}", stop)
