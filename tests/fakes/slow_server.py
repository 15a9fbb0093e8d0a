"""A web site on 127.0.0.1 that counts the requests it gets per path and can be slow or
failing on demand, for the ``http.request`` steps of execution and browser tests."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class SlowServer:
    """Counts requests (GET or POST) per path; ``?delay_ms=N`` makes the answer wait N ms.

    Answers ``{"path", "hit"}`` as JSON; ``/fail`` answers 500 until :attr:`healthy` is set.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.healthy = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                with server.lock:
                    server.hits[parts.path] += 1
                    hit = server.hits[parts.path]
                delay = int(parse_qs(parts.query).get("delay_ms", ["0"])[0])
                if delay:
                    time.sleep(delay / 1000)
                failing = parts.path == "/fail" and not server.healthy.is_set()
                body = json.dumps({"path": parts.path, "hit": hit}).encode()
                try:
                    self.send_response(500 if failing else 200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the worker that asked was killed meanwhile
                    pass

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
