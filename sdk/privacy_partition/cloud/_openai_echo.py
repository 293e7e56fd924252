"""``OpenAICompatibleEcho``: a real chat-completions HTTP server on loopback, for tests.

The test double behind ``OpenAIUpstream``: it speaks the part of the OpenAI
API a gateway uses (``POST /v1/chat/completions``, whole or streamed as
server-sent events, bearer-token auth, error statuses) with the standard
library's ``http.server`` in a daemon thread, so tests exercise a real socket
and a real HTTP/1.1 exchange without a network or a model. It answers like
``EchoUpstream``: the user turns joined by newlines, counted in words.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAICompatibleEcho"]

_PATH = "/v1/chat/completions"


class OpenAICompatibleEcho:
    """An OpenAI-compatible chat-completions server on ``127.0.0.1`` that echoes the prompt.

    ``base_url`` is what ``OpenAIUpstream`` takes. With ``api_key`` every
    request must carry ``Authorization: Bearer <api_key>`` (else 401).
    Streams send ``chunk_chars`` characters per event, ``delay_s`` apart;
    ``max_tokens`` cuts the answer to that many words (``finish_reason``
    ``length``). ``fail_next(status, times)`` answers the next requests with
    an error whose body quotes the prompt, as some servers do, so that tests
    can check that it goes no further.

    Counters (thread-safe to read): ``requests``, ``chunks_sent``,
    ``streams_completed`` and ``streams_closed_early`` (the client went
    away mid-stream). ``seen`` keeps the last request bodies, in memory only.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        chunk_chars: int = 16,
        delay_s: float = 0.0,
        remember: int = 64,
    ) -> None:
        if chunk_chars < 1 or delay_s < 0 or remember < 0:
            raise ValueError("chunk_chars >= 1, delay_s >= 0 and remember >= 0 are required")
        self._api_key = api_key
        self._chunk_chars = chunk_chars
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self._failures: deque[int] = deque()
        self._closing = threading.Event()
        self.seen: deque[dict[str, Any]] = deque(maxlen=remember)
        self.requests = 0
        self.chunks_sent = 0
        self.streams_completed = 0
        self.streams_closed_early = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-compatible-echo",
            daemon=True,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleEcho({self.base_url!r})"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> OpenAICompatibleEcho:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; streams in progress end at their next event."""
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAICompatibleEcho:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    # -- called from the handler threads ----------------------------------------

    def _admit(self, authorization: str | None, body: dict[str, Any]) -> int:
        """The HTTP status this request gets."""
        with self._lock:
            self.requests += 1
            self.seen.append(body)
            if self._failures:
                return self._failures.popleft()
        if self._api_key is not None and authorization != f"Bearer {self._api_key}":
            return HTTPStatus.UNAUTHORIZED
        return HTTPStatus.OK

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


def _answer(body: dict[str, Any]) -> tuple[str, str, dict[str, int]]:
    """The echo's answer to a request body, why it ended and the usage (words for tokens)."""
    messages = body.get("messages") or []
    prompt = "\n".join(m.get("content", "") for m in messages if m.get("role") == "user")
    finish = "stop"
    limit = body.get("max_tokens")
    words = prompt.split(" ")
    if isinstance(limit, int) and 0 < limit < len(words):
        prompt, finish = " ".join(words[:limit]), "length"
    usage = {
        "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in messages),
        "completion_tokens": len(prompt.split()),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return prompt, finish, usage


def _handler_for(echo: OpenAICompatibleEcho) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like a real server

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the test double logs nothing."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != _PATH:
                self._json(HTTPStatus.NOT_FOUND, {"error": {"message": "no such route"}})
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": {"message": "body is not JSON"}})
                return
            status = echo._admit(self.headers.get("Authorization"), body)
            text, finish, usage = _answer(body)
            if status != HTTPStatus.OK:
                # Quotes the prompt, as some servers do: the gateway must not pass it on.
                error = {"message": f"cannot serve: {text}", "type": "test_failure"}
                self._json(status, {"error": error})
            elif body.get("stream"):
                self._stream(body, text, finish, usage)
            else:
                message = {"role": "assistant", "content": text}
                choice = {"index": 0, "message": message, "finish_reason": finish}
                self._json(HTTPStatus.OK, _completion(body, [choice], usage))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(
            self, body: dict[str, Any], text: str, finish: str, usage: dict[str, int]
        ) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = echo._chunk_chars
            events = [
                _completion(body, [{"index": 0, "delta": {"role": "assistant"}}], None),
                *(
                    _completion(
                        body, [{"index": 0, "delta": {"content": text[i : i + step]}}], None
                    )
                    for i in range(0, len(text), step)
                ),
                _completion(body, [{"index": 0, "delta": {}, "finish_reason": finish}], None),
            ]
            if (body.get("stream_options") or {}).get("include_usage"):
                events.append(_completion(body, [], usage))
            try:
                for event in events:
                    if echo._closing.wait(echo._delay_s):
                        self.close_connection = True  # the body is cut short: no reuse
                        return
                    self._send_chunk(f"data: {json.dumps(event)}\n\n".encode())
                    echo._count("chunks_sent")
                self._send_chunk(b"data: [DONE]\n\n")
                self._send_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                echo._count("streams_closed_early")
                return
            echo._count("streams_completed")

        def _send_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _completion(
    body: dict[str, Any], choices: list[dict[str, Any]], usage: dict[str, int] | None
) -> dict[str, Any]:
    streamed = bool(body.get("stream"))
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk" if streamed else "chat.completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": choices,
        "usage": usage,
    }
