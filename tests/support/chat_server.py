"""A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, standard library only.

Tests point ``OpenAIProvider(base_url=srv.base_url, use_responses=False)`` at it to exercise the
SDK's real HTTP path (tools, streaming, structured output) without a network or an API key.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["ChatServer", "ErrorReply", "Reply", "ScriptStep", "ToolCall"]

_HOST = "127.0.0.1"
_CREATED = 1_700_000_000  # fixed so recorded responses are reproducible


@dataclass(frozen=True)
class ToolCall:
    """A scripted assistant tool call; ``arguments`` may be a JSON string or a mapping."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    call_id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True)
class ErrorReply:
    """A scripted HTTP error, e.g. to test error handling (never retried by the openai client)."""

    status: int = 500
    message: str = "scripted error"


Reply = str | ToolCall | Sequence[ToolCall] | ErrorReply
ScriptStep = Reply | Callable[[dict[str, Any]], Reply]


class ChatServer:
    """Answers ``POST /v1/chat/completions`` with scripted replies, in order.

    Each step is a text, a ``ToolCall`` (or a list of them, for parallel calls), an
    ``ErrorReply``, or a callable that receives the request JSON and returns one of those.
    Every request body is recorded in ``requests``. When the script runs out the server answers
    500 with a JSON error; after ``max_requests`` requests it answers 503 and records nothing.
    """

    def __init__(
        self,
        responses: Iterable[ScriptStep] = (),
        *,
        max_requests: int = 100,
        request_timeout: float = 10.0,
        stream_chunk_chars: int = 8,
    ) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self.max_requests = max_requests
        self.request_timeout = request_timeout
        self.stream_chunk_chars = max(1, stream_chunk_chars)
        self.requests: list[dict[str, Any]] = []
        self._script: deque[ScriptStep] = deque(responses)
        self._lock = threading.Lock()
        self._served = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ChatServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("ChatServer is already running")
        # The socket timeout bounds how long a stalled client can hold a handler thread.
        attrs = {"server_owner": self, "timeout": self.request_timeout}
        handler = type("_BoundHandler", (_Handler,), attrs)
        httpd = ThreadingHTTPServer((_HOST, 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="chat-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout)

    # -- public state ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ChatServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{_HOST}:{self.port}/v1"

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def add(self, *steps: ScriptStep) -> None:
        with self._lock:
            self._script.extend(steps)

    def assert_complete(self) -> None:
        left = self.remaining
        if left:
            raise AssertionError(f"{left} scripted response(s) were never requested")

    # -- request handling (called from handler threads) --------------------------------------

    def _next(self, body: dict[str, Any]) -> tuple[int, int, Reply | None, str]:
        """Record the request and pick its reply: (number, status, reply, error message)."""
        with self._lock:
            if self._served >= self.max_requests:
                limit = f"request limit reached ({self.max_requests} requests)"
                return 0, 503, None, limit
            self._served += 1
            number = self._served
            self.requests.append(body)
            if not self._script:
                message = f"script exhausted: no scripted response for request #{number}"
                return number, 500, None, message
            step = self._script.popleft()
        reply = step(body) if callable(step) else step
        if isinstance(reply, ErrorReply):
            return number, reply.status, None, reply.message
        return number, 200, reply, ""


def _tool_calls(reply: Reply) -> list[ToolCall]:
    if isinstance(reply, ToolCall):
        return [reply]
    if isinstance(reply, str | ErrorReply):
        return []
    return list(reply)


def _usage(body: dict[str, Any], produced: str) -> dict[str, int]:
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    completion = max(1, len(produced) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Handler(BaseHTTPRequestHandler):
    server_owner: ChatServer
    # HTTP/1.0: one request per connection, so the body of a stream ends when the socket closes.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._error(404, f"unknown path {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"unknown path {self.path}; only POST /v1/chat/completions exists")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "request body is not valid JSON")
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object")
            return
        owner = self.server_owner
        number, status, reply, message = owner._next(body)
        if reply is None:
            self._error(status, message)
            return
        completion_id = f"chatcmpl-{number}"
        calls = [
            (call, call.call_id or f"call_{number}_{index}")
            for index, call in enumerate(_tool_calls(reply))
        ]
        text = reply if isinstance(reply, str) else None
        model = str(body.get("model") or "local-test")
        if body.get("stream"):
            self._stream(body, completion_id, model, text, calls)
        else:
            self._complete(body, completion_id, model, text, calls)

    # -- responses ---------------------------------------------------------------------------

    def _complete(
        self,
        body: dict[str, Any],
        completion_id: str,
        model: str,
        text: str | None,
        calls: list[tuple[ToolCall, str]],
    ) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call, call_id in calls
            ]
        produced = (text or "") + "".join(c.arguments_json() for c, _ in calls)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": _CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": _usage(body, produced),
        }
        self._json(200, payload)

    def _stream(
        self,
        body: dict[str, Any],
        completion_id: str,
        model: str,
        text: str | None,
        calls: list[tuple[ToolCall, str]],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        for piece in self._pieces(text or ""):
            events.append(chunk({"content": piece}))
        for index, (call, call_id) in enumerate(calls):
            start = {"name": call.name, "arguments": ""}
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {"index": index, "id": call_id, "type": "function", "function": start}
                        ]
                    }
                )
            )
            for piece in self._pieces(call.arguments_json()):
                events.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        events.append(chunk({}, "tool_calls" if calls else "stop"))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            produced = (text or "") + "".join(c.arguments_json() for c, _ in calls)
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage(body, produced)
            events.append(usage_chunk)
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _pieces(self, text: str) -> Iterator[str]:
        size = self.server_owner.stream_chunk_chars
        for start in range(0, len(text), size):
            yield text[start : start + size]

    def _error(self, status: int, message: str) -> None:
        error_type = "server_error" if status >= 500 else "invalid_request_error"
        payload = {"error": {"message": message, "type": error_type, "code": status}}
        self._json(status, payload)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # The openai client otherwise retries 5xx answers with backoff, slowing tests down.
        self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(data)
