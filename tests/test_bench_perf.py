"""bench.perf's load generator: keep-alive connections for the measured rounds, a new one per request to warm up."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import perf


@pytest.fixture
def server():
    """A loopback HTTP/1.1 server answering 200, counting the connections it accepts."""
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):  # once per connection; do_GET once per request on it
            connections.append(1)
            super().setup()

        def do_GET(self):  # noqa: N802 -- http.server's name
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], connections
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("fresh", [False, True])
def test_each_path_is_requested_once_over_kept_or_fresh_connections(server, fresh):
    port, connections = server
    samples = perf._load_worker(port, [f"/p{i}" for i in range(40)], 4, fresh=fresh)
    assert sorted(path for path, _, _ in samples) == sorted(f"/p{i}" for i in range(40))
    assert all(status == 200 for _, _, status in samples)
    if fresh:
        assert len(connections) == 40
    else:
        assert 1 <= len(connections) <= 4  # one per client thread at most
