"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol.

Tests script its answers in order with `enqueue_*`, then read `requests` to see what the
client sent (body and headers). An empty queue answers 503, so a test that sends more
requests than it scripted fails loudly instead of hanging.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class _Scripted:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


@dataclass
class FakeOpenAIServer:
    queue: list[_Scripted] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None
    # When the queue is empty: a function from the request body to the reply's content.
    responder: Callable[[dict[str, Any]], str] | None = None

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def enqueue_reply(self, content: str, *, finish_reason: str = "stop") -> None:
        body = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
        self.queue.append(_Scripted(200, json.dumps(body).encode()))

    def enqueue_error(self, status: int, message: str) -> None:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        self.queue.append(_Scripted(status, json.dumps(body).encode()))

    def enqueue_raw(self, body: bytes, status: int = 200) -> None:
        self.queue.append(_Scripted(status, body))

    def enqueue_delay(self, seconds: float) -> None:
        """Answer the next request only after `seconds` (for timeouts)."""
        self.enqueue_reply("too late")
        self.queue[-1].delay_s = seconds

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with server.lock:
                    server.requests.append(
                        ReceivedRequest(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw or b"{}"),
                        )
                    )
                    scripted = server.queue.pop(0) if server.queue else None
                if scripted is None and server.responder is not None:
                    server.enqueue_reply(server.responder(server.requests[-1].body))
                    with server.lock:
                        scripted = server.queue.pop(0)
                if scripted is None:
                    scripted = _Scripted(503, b'{"error": {"message": "nothing scripted"}}')
                if scripted.delay_s:
                    time.sleep(scripted.delay_s)
                try:
                    self.send_response(scripted.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(scripted.body)))
                    self.end_headers()
                    self.wfile.write(scripted.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
