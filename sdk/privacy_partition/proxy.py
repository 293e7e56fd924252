"""An OpenAI-compatible HTTP endpoint on the device: an app changes its ``base_url``.

``create_app(client)`` is an ASGI application (Starlette) that serves the
Chat Completions API in front of a :class:`PrivacyClient`, so a program
written for the ``openai`` package, LangChain or plain HTTP gets the
boundary without a rewrite::

    POST /v1/chat/completions   plain, or server-sent events with "stream": true
    GET  /v1/models             the cloud model names configured, and the local model
    GET  /healthz, /readyz      liveness; readiness (the engines are loaded)

Each request goes the way ``PrivacyClient.generate`` sends it: detect,
decide, then answer on the device, or transform, send to the gateway and
restore, or refuse. The answer comes in OpenAI's response shape; ``model``
names the local model when the device answered, and the header
``x-privacy-partition-route`` says ``cloud`` or ``local``. Streamed answers
are restored piece by piece as they arrive, never buffered to the end.

Errors use OpenAI's error object, and never quote the request:

* 400 ``invalid_request_error``: a body that is not a chat request, or a
  feature this endpoint does not serve yet (tools, ``n`` > 1, images,
  ``response_format`` other than text): refused rather than dropped;
* 401 ``authentication_error``: a token is configured and the request lacks it;
* 413: a body over ``MAX_BODY_BYTES`` (4 MiB), not read past the limit;
* 403 ``policy_violation``: the policy refuses the request (the message names
  entity types and rules, never values);
* 502 ``upstream_error``: the gateway failed and no fallback applied;
* 500 ``internal_error``: anything else, with no detail. It fails closed:
  nothing is sent when detection or transformation fails.

Conversations over a stateless API: the app sends the whole history with
each request, answers included as it received them. The proxy keeps a
:class:`ChatSession` per conversation, in memory, and finds it again by the
exact history (see ``_Conversations``): a continued conversation keeps one
replacement per value in every turn, and its earlier turns reach the cloud
in the form they went before, never detected again. A history the proxy does
not know (edited, or from before a restart, or evicted: at most
``max_conversations``, each kept ``conversation_idle_s`` after its last
turn) is answered on its own, every turn detected and transformed with a
fresh vault. The header ``x-privacy-partition-conversation`` says ``new``,
``continued`` or ``stateless``. Nothing reaches the disk, and nothing is
logged but status lines: no body, no header value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute

from privacy_partition._actions import Route
from privacy_partition._errors import InputError, PolicyViolation, PrivacyPartitionError
from privacy_partition.client import ChatSession, PrivacyClient, Reply, ReplyStream
from privacy_partition.cloud import GatewayError, GenerationOptions

__all__ = [
    "CONVERSATION_HEADER",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "ROUTE_HEADER",
    "BackgroundProxy",
    "ProxyConfig",
    "create_app",
]

DEFAULT_PORT: Final = 8787
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""The largest request body read (HTTP 413 beyond): a prompt is at most 32,768 characters per
turn, and the whole history comes with each request."""
ROUTE_HEADER: Final = "x-privacy-partition-route"
CONVERSATION_HEADER: Final = "x-privacy-partition-conversation"
_log = logging.getLogger("privacy_partition.proxy")

# Chat roles as OpenAI names them, and as the client names them.
_ROLES: Final = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
# Request fields that change what the answer must be, which this endpoint does not serve yet.
_UNSERVED: Final = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities")
# Fields read, or accepted and ignored because they do not change the answer's content.
_IGNORED: Final = frozenset(
    {
        "user", "metadata", "store", "stream_options", "logprobs", "top_logprobs",
        "presence_penalty", "frequency_penalty", "logit_bias", "parallel_tool_calls",
        "service_tier", "reasoning_effort", "prediction", "web_search_options",
    }
)  # fmt: skip
_READ: Final = frozenset(
    {
        "model", "messages", "stream", "max_tokens", "max_completion_tokens", "temperature",
        "top_p", "stop", "seed", "n", "response_format",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """How the endpoint presents itself.

    ``cloud_models`` are the names ``/v1/models`` lists for the cloud side (a
    request may name any model: the gateway decides which upstream answers).
    ``local_model`` names the device's model in answers it gave. ``token``,
    when set, is required as ``Authorization: Bearer <token>`` on every
    ``/v1`` request (compared in constant time). At most
    ``max_conversations`` conversations are remembered (0: none), each for
    ``conversation_idle_s`` after its last turn (see the module's docstring).
    """

    cloud_models: tuple[str, ...] = ("cloud",)
    local_model: str = "local"
    token: str | None = None
    max_conversations: int = 1024
    conversation_idle_s: float = 1800.0

    def __post_init__(self) -> None:
        if self.max_conversations < 0 or self.conversation_idle_s <= 0:
            raise ValueError("max_conversations >= 0 and conversation_idle_s > 0 are required")

    def __repr__(self) -> str:
        token = "set" if self.token else None
        return (
            f"ProxyConfig(cloud_models={self.cloud_models!r}, "
            f"local_model={self.local_model!r}, token={token})"
        )


class _BadRequest(Exception):
    """A request this endpoint will not serve; the message names fields, never values."""


@dataclass(frozen=True, slots=True)
class _Chat:
    model: str
    messages: list[dict[str, str]]
    options: GenerationOptions
    stream: bool


def create_app(client: PrivacyClient, config: ProxyConfig | None = None) -> Starlette:
    """The ASGI application serving ``client`` (which the caller owns and closes)."""
    settings = config or ProxyConfig()
    conversations = _Conversations(client, settings.max_conversations, settings.conversation_idle_s)

    async def completions(request: Request) -> Response:
        denied = _check_token(request, settings)
        if denied is not None:
            return denied
        body = await _body(request)
        if body is None:
            return _error(413, "invalid_request_error", f"the body exceeds {MAX_BODY_BYTES} bytes")
        try:
            chat = _parse(body)
        except _BadRequest as error:
            return _error(400, "invalid_request_error", str(error))
        turn = conversations.begin(chat)
        if chat.stream:
            return await _streamed(turn, chat, settings)
        return await _whole(turn, chat, settings)

    async def models(request: Request) -> Response:
        denied = _check_token(request, settings)
        if denied is not None:
            return denied
        names = [*settings.cloud_models, settings.local_model]
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "privacy-partition"}
            for name in names
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        # The client loaded its engines when it was built; an answer needs a side to answer.
        ready = client.has_gateway or client.has_local_model
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    return Starlette(
        routes=[
            HttpRoute("/v1/chat/completions", completions, methods=["POST"]),
            HttpRoute("/v1/models", models, methods=["GET"]),
            HttpRoute("/healthz", healthz, methods=["GET"]),
            HttpRoute("/readyz", readyz, methods=["GET"]),
        ]
    )


# -- requests ------------------------------------------------------------------


def _check_token(request: Request, settings: ProxyConfig) -> Response | None:
    if settings.token is None:
        return None
    given = request.headers.get("authorization", "")
    expected = f"Bearer {settings.token}"
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return _error(401, "authentication_error", "a valid bearer token is required")


async def _body(request: Request) -> bytes | None:
    """The request's body, or None once it passes ``MAX_BODY_BYTES`` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> _Chat:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object")
    for name in _UNSERVED:
        if data.get(name):
            raise _BadRequest(f"'{name}' is not served by this endpoint yet")
    unknown = sorted(k for k in data if k not in _READ and k not in _IGNORED)
    if unknown:
        raise _BadRequest(f"unknown field(s): {', '.join(repr(k)[:40] for k in unknown[:5])}")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("'model' must be a non-empty string")
    if data.get("n", 1) != 1:
        raise _BadRequest("'n' other than 1 is not served")
    response_format = data.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise _BadRequest("'response_format' other than text is not served yet")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise _BadRequest("'stream' must be a boolean")
    return _Chat(model, _messages(data.get("messages")), _options(data), stream)


def _messages(raw: object) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("'messages' must be a non-empty array")
    messages = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict):
            raise _BadRequest(f"messages[{index}] must be an object")
        raw_role = message.get("role")
        role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            raise _BadRequest(
                f"messages[{index}].role must be one of {sorted(_ROLES)} (tool turns are not "
                "served yet)"
            )
        messages.append({"role": role, "content": _content(message.get("content"), index)})
    return messages


def _content(content: object, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _BadRequest(f"messages[{index}].content: only text parts are served")
            text = part.get("text")
            if not isinstance(text, str):
                raise _BadRequest(f"messages[{index}].content: a text part needs 'text'")
            texts.append(text)
        return "\n".join(texts)
    raise _BadRequest(f"messages[{index}].content must be a string or an array of text parts")


def _options(data: Mapping[str, Any]) -> GenerationOptions:
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens")) or 0
    stop = data.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    checks = (
        (isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 0,
         "'max_tokens' must be a non-negative integer"),
        (_number_or_none(data.get("temperature")), "'temperature' must be a number"),
        (_number_or_none(data.get("top_p")), "'top_p' must be a number"),
        (isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop),
         "'stop' must be a string or an array of strings"),
        (data.get("seed") is None or type(data.get("seed")) is int,
         "'seed' must be an integer"),
    )  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise _BadRequest(message)
    return GenerationOptions(
        max_tokens=max_tokens,
        temperature=data.get("temperature"),
        top_p=data.get("top_p"),
        stop=tuple(stop),
        seed=data.get("seed"),
    )


def _number_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


# -- conversations --------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Turn:
    """One request's way through: a turn of a remembered conversation, or on its own."""

    state: str  # "new", "continued" or "stateless"
    generate: Callable[[], Reply]
    stream: Callable[[], ReplyStream]
    end: Callable[[], None]


class _Conversations:
    """Chat sessions, found again by the history an app sends back. Thread-safe.

    An app sends the whole conversation each time. After each turn the
    session is filed under a digest of its history as written (system prompt,
    user turns, the answers as the app received them); a request whose turns
    before its last user turn have exactly that digest, and exactly those
    turns, continues the session: same vault, same replacements, and the
    earlier turns go to the cloud in the form they went before, never
    detected again. Any other request starts a session (a system prompt and
    one user turn) or is answered on its own with a fresh vault. Two
    conversations share a session only when everything they said so far is
    identical, so no value of one can be restored into the other.
    """

    def __init__(self, client: PrivacyClient, limit: int, idle_s: float) -> None:
        self._client = client
        self._limit = limit
        self._idle_s = idle_s
        self._sessions: OrderedDict[str, tuple[float, ChatSession]] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, chat: _Chat) -> _Turn:
        messages = chat.messages
        last, prefix = messages[-1], messages[:-1]
        session: ChatSession | None = None
        state = "stateless"
        if self._limit and last["role"] == "user":
            if not prefix or (len(prefix) == 1 and prefix[0]["role"] == "system"):
                system = prefix[0]["content"] if prefix else None
                session, state = self._client.session(system=system), "new"
            else:
                session = self._take(prefix)
                state = "stateless" if session is None else "continued"
        if session is None:
            return _Turn(
                state,
                lambda: self._client.generate(messages, options=chat.options),
                lambda: self._client.stream(messages, options=chat.options),
                lambda: None,
            )
        kept = session
        return _Turn(
            state,
            lambda: kept.send(last["content"], options=chat.options),
            lambda: kept.stream(last["content"], options=chat.options),
            lambda: self._keep(kept),
        )

    def _take(self, prefix: list[dict[str, str]]) -> ChatSession | None:
        with self._lock:
            self._expire()
            entry = self._sessions.pop(_digest(prefix), None)
        if entry is None or entry[1].messages != prefix:
            return None
        return entry[1]

    def _keep(self, session: ChatSession) -> None:
        """File ``session`` under its history, as it stands after the turn (or a refusal)."""
        history = session.messages
        if not any(m["role"] == "assistant" for m in history):
            return  # a first turn that was refused: nothing to continue
        key = _digest(history)
        with self._lock:
            self._sessions[key] = (time.monotonic(), session)
            self._sessions.move_to_end(key)
            while len(self._sessions) > self._limit:
                self._sessions.popitem(last=False)

    def _expire(self) -> None:
        oldest = time.monotonic() - self._idle_s
        while self._sessions:
            key, (touched, _) = next(iter(self._sessions.items()))
            if touched >= oldest:
                return
            del self._sessions[key]


def _digest(messages: list[dict[str, str]]) -> str:
    canonical = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# -- answers -------------------------------------------------------------------


async def _whole(turn: _Turn, chat: _Chat, settings: ProxyConfig) -> Response:
    try:
        reply: Reply = await run_in_threadpool(turn.generate)
    except Exception as error:  # every failure becomes an error object
        return _failure(error, turn)
    finally:
        turn.end()
    body = {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(chat, reply.route, settings),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
    }
    return JSONResponse(body, headers=_headers(reply.route, reply.request_id, turn))


async def _streamed(turn: _Turn, chat: _Chat, settings: ProxyConfig) -> Response:
    # The decision and the first piece come before the response starts, so a refusal or a
    # failure is an HTTP error, and the route header says where the answer comes from.
    stream: ReplyStream | None = None
    try:
        stream = await run_in_threadpool(turn.stream)
        first = await run_in_threadpool(next, stream, None)
    except Exception as error:
        if stream is not None:
            await run_in_threadpool(stream.close)
        turn.end()
        return _failure(error, turn)
    route = stream.route or Route.CLOUD
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    model = _model(chat, route, settings)
    return StreamingResponse(
        _events(stream, first, request_id, model, turn),
        media_type="text/event-stream",
        headers={**_headers(route, request_id, turn), "cache-control": "no-cache"},
    )


async def _events(
    stream: ReplyStream, first: str | None, request_id: str, model: str, turn: _Turn
) -> AsyncIterator[str]:
    created = int(time.time())

    def event(delta: Mapping[str, str], finish: str | None = None) -> str:
        chunk = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    try:
        yield event({"role": "assistant", "content": ""})
        if first is not None:
            if first:
                yield event({"content": first})
            async for piece in iterate_in_threadpool(stream):
                if piece:
                    yield event({"content": piece})
        yield event({}, "stop")
        yield "data: [DONE]\n\n"
    except Exception as error:  # the headers are sent: say so in the stream
        status, kind, message = _describe(error)
        yield f"data: {json.dumps({'error': {'message': message, 'type': kind}})}\n\n"
        _log.warning("stream ended with %s (%s)", kind, status)
    finally:
        await run_in_threadpool(stream.close)
        turn.end()


def _model(chat: _Chat, route: Route, settings: ProxyConfig) -> str:
    return settings.local_model if route is Route.LOCAL else chat.model


def _headers(route: Route, request_id: str, turn: _Turn) -> dict[str, str]:
    return {
        ROUTE_HEADER: route.value,
        CONVERSATION_HEADER: turn.state,
        "x-request-id": request_id,
    }


def _describe(error: Exception) -> tuple[int, str, str]:
    """(HTTP status, error type, message) of a failure; messages name no value."""
    if isinstance(error, PolicyViolation):
        return 403, "policy_violation", str(error)
    if isinstance(error, InputError):
        return 400, "invalid_request_error", str(error)
    if isinstance(error, GatewayError):
        return 502, "upstream_error", f"the gateway failed ({error.code})"
    if isinstance(error, PrivacyPartitionError):
        return 500, "internal_error", f"the request failed ({type(error).__name__})"
    return 500, "internal_error", "the request failed"


def _failure(error: Exception, turn: _Turn) -> Response:
    status, kind, message = _describe(error)
    if status == 500:
        _log.warning("request failed: %s", type(error).__name__)
    return _error(status, kind, message, headers={CONVERSATION_HEADER: turn.state})


def _error(
    status: int,
    kind: str,
    message: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code or kind}}
    return JSONResponse(body, status_code=status, headers=headers)


class BackgroundProxy:
    """Serves an app from :func:`create_app` with uvicorn in a daemon thread, on loopback.

    The fixture for tests and examples, as ``BackgroundGateway`` is for the
    gateway::

        with BackgroundProxy(create_app(client)) as proxy:
            OpenAI(base_url=proxy.base_url, api_key="unused")

    ``port`` 0 picks a free port. Leaving the block stops the server.
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        if port == 0:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self.host, self.port = host, port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``: ``http://HOST:PORT/v1``."""
        return f"{self.url}/v1"

    def __enter__(self) -> BackgroundProxy:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"the proxy did not start on {self.url}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
