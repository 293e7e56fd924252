"""``OpenAIUpstream``: any OpenAI-compatible chat-completions endpoint over HTTP.

vLLM, Ollama, llama.cpp's server, Ray Serve or KServe behind the OpenAI API,
or a hosted API: the gateway POSTs ``{base_url}/chat/completions``, whole or
streamed as server-sent events (``stream: true``, ``data:`` lines ending with
``data: [DONE]``). Scale-out is the endpoint's business.

The API key is read once from the environment variable the gateway names
(``OPENAI_API_KEY`` by default) and sent as a bearer token; it never appears
in a log, an error or a repr. The client ignores proxy settings and netrc
from the environment (``trust_env=False``) and does not follow redirects:
it talks to the configured endpoint and nothing else.

How failures reach the caller (the message names the HTTP status or the
kind of failure, never the prompt or the endpoint's error body)::

    HTTP 429                                  RESOURCE_EXHAUSTED
    HTTP 408, 5xx, connection failed or lost  UNAVAILABLE (clients retry it)
    read or write timed out                   DEADLINE_EXCEEDED
    no connection free in the pool in time    RESOURCE_EXHAUSTED
    HTTP 400, 413, 422                        INVALID_ARGUMENT (too long for the model, bad options)
    other HTTP statuses, a malformed answer   INTERNAL (the gateway's key, URL or model is wrong)
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import httpx

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud._errors import UpstreamError
from privacy_partition.cloud._types import ChatMessage, FinishReason, GenerationOptions, Usage
from privacy_partition.cloud._upstream import UpstreamAnswer, UpstreamPiece

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_UPSTREAM_TIMEOUT_S",
    "OpenAIUpstream",
]

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_UPSTREAM_TIMEOUT_S = 120.0
"""How long one read or write (for a whole answer: the wait for it) may take."""

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
}
_MALFORMED = "the upstream's answer is not a chat completion"


class OpenAIUpstream:
    """Forwards chat turns to an OpenAI-compatible endpoint with ``httpx.AsyncClient``.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM) or
    ``http://127.0.0.1:11434/v1`` (Ollama); ``model`` the name the endpoint
    serves. Without a key in ``api_key_env`` requests go without
    ``Authorization`` (local servers need none). Concurrent requests share
    one connection pool of at most ``max_connections``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_connections: int = 100,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            raise ConfigurationError("the upstream base URL is not a URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                "the upstream base URL must be http:// or https:// with a host"
            )
        if url.userinfo:
            raise ConfigurationError(
                "the upstream base URL must not carry credentials: put the key in the"
                " environment variable that api_key_env names"
            )
        if not model:
            raise ConfigurationError("the upstream needs a model name")
        if timeout_s <= 0 or connect_timeout_s <= 0 or max_connections < 1:
            raise ConfigurationError(
                "timeout_s > 0, connect_timeout_s > 0 and max_connections >= 1 are required"
            )
        self.base_url = str(url)
        self.model = model
        self._api_key_env = api_key_env
        headers = {"Accept": "application/json"}
        key = os.environ.get(api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections),
            trust_env=False,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIUpstream({self.base_url!r}, model={self.model!r},"
            f" api_key_env={self._api_key_env!r})"
        )

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        body = self._body(messages, options, stream=False)
        try:
            response = await self._client.post("chat/completions", json=body)
        except httpx.HTTPError as error:
            raise _transport_error(error) from error
        if response.status_code != httpx.codes.OK:
            raise _status_error(response.status_code)
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError
            finish = _finish(choice.get("finish_reason"))
            usage = _usage(payload.get("usage"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(_MALFORMED) from None
        return UpstreamAnswer(text, finish or FinishReason.STOP, usage or Usage())

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        body = self._body(messages, options, stream=True)
        finish: FinishReason | None = None
        usage: Usage | None = None
        done = False
        try:
            # Leaving this block early (a cancelled call) closes the response, and with it
            # the connection: the endpoint sees the client go and stops generating.
            async with self._client.stream("POST", "chat/completions", json=body) as response:
                if response.status_code != httpx.codes.OK:
                    raise _status_error(response.status_code)
                async for data in _sse_data(response):
                    if data == "[DONE]":
                        done = True
                        break
                    text, reason, used = _stream_event(data)
                    finish = reason or finish
                    usage = used or usage
                    if text:
                        yield UpstreamPiece(text)
        except httpx.HTTPError as error:
            raise _transport_error(error) from error
        if not done and finish is None:
            raise UpstreamError(
                "the upstream's stream ended before the answer did",
                status=grpc.StatusCode.UNAVAILABLE,
            )
        yield UpstreamPiece("", finish or FinishReason.STOP, usage or Usage())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role.value, "content": m.content} for m in messages],
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if options.max_tokens:
            body["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        return body


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The data of each server-sent event; ``event:``, ``id:`` and comments are ignored."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)


def _stream_event(data: str) -> tuple[str, FinishReason | None, Usage | None]:
    """One ``chat.completion.chunk``: its text, why it ended (if it did), the usage (if sent)."""
    try:
        event = json.loads(data)
        if "error" in event:
            raise UpstreamError("the upstream reported an error in its stream")
        choices = event.get("choices") or []
        text, finish = "", None
        if choices:
            text = choices[0].get("delta", {}).get("content") or ""
            if not isinstance(text, str):
                raise TypeError
            finish = _finish(choices[0].get("finish_reason"))
        return text, finish, _usage(event.get("usage"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise UpstreamError("the upstream sent a malformed stream event") from None


def _finish(reason: object) -> FinishReason | None:
    if reason is None:
        return None
    return _FINISH.get(str(reason), FinishReason.STOP)


def _usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _status_error(status: int) -> UpstreamError:
    if status == httpx.codes.TOO_MANY_REQUESTS:
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    elif status >= 500 or status == httpx.codes.REQUEST_TIMEOUT:
        code = grpc.StatusCode.UNAVAILABLE
    elif status in (400, 413, 422):
        code = grpc.StatusCode.INVALID_ARGUMENT
    else:
        code = grpc.StatusCode.INTERNAL
    return UpstreamError(f"the upstream answered HTTP {status}", status=code)


def _transport_error(error: httpx.HTTPError) -> UpstreamError:
    kind = type(error).__name__
    if isinstance(error, httpx.PoolTimeout):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    elif isinstance(error, httpx.TimeoutException) and not isinstance(error, httpx.ConnectTimeout):
        code = grpc.StatusCode.DEADLINE_EXCEEDED
    elif isinstance(error, httpx.TransportError):
        code = grpc.StatusCode.UNAVAILABLE
    else:
        code = grpc.StatusCode.INTERNAL
    return UpstreamError(f"the upstream call failed ({kind})", status=code)
