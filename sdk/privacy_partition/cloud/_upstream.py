"""Upstreams: the language models a gateway forwards sanitized requests to.

An upstream receives only chat turns and options: sealed values are opened
by recipients before the upstream is called and never reach it. Three stand
behind the same interface: ``EchoUpstream`` here (tests and leak audits),
``OnnxUpstream`` (an onnxruntime-genai model in the gateway's own process,
the offline default) and ``OpenAIUpstream`` (any OpenAI-compatible HTTP
endpoint: vLLM, Ollama, a hosted API).

An upstream reports a failure as ``UpstreamError`` with the status the
gateway answers with; its message reaches the caller, so it never holds
content.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from privacy_partition.cloud._types import ChatMessage, FinishReason, GenerationOptions, Role, Usage

__all__ = ["EchoUpstream", "Upstream", "UpstreamAnswer", "UpstreamPiece"]


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """What an upstream produced for one request."""

    text: str
    finish_reason: FinishReason
    usage: Usage


@dataclass(frozen=True, slots=True)
class UpstreamPiece:
    """A piece of a streamed answer; the last piece carries why it stopped and the usage."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


class Upstream(Protocol):
    """A model behind the gateway. Implementations are shared by all requests: keep them
    safe for concurrent use on one event loop."""

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        """The whole answer."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        """The answer in pieces. Cancelling the consuming task stops generation."""
        ...

    async def aclose(self) -> None:
        """Release what the upstream holds; ``GatewayServer.stop()`` calls it once, on the
        server's loop, after in-flight calls have ended."""
        ...


class EchoUpstream:
    """Answers with exactly what it received: the user turns joined by newlines.

    The test double and the leak auditor: what it answers is what a real
    model would have seen. ``seen`` keeps the prompts of the last
    ``remember`` requests in memory (never logged) so that tests can check
    them; ``chunk_chars`` sizes streamed pieces and ``delay_s`` waits before
    each piece (and before a whole answer), to stand in for a slow model.
    """

    def __init__(self, *, chunk_chars: int = 16, delay_s: float = 0.0, remember: int = 64) -> None:
        if chunk_chars < 1 or delay_s < 0 or remember < 0:
            raise ValueError("chunk_chars >= 1, delay_s >= 0 and remember >= 0 are required")
        self._chunk_chars = chunk_chars
        self._delay_s = delay_s
        self.seen: deque[str] = deque(maxlen=remember)
        self.chunks_sent = 0  # across all streams: lets tests see generation stop

    def __repr__(self) -> str:
        return f"EchoUpstream(chunk_chars={self._chunk_chars}, delay_s={self._delay_s})"

    async def aclose(self) -> None:
        """Nothing to release: an echo can serve several gateways one after another."""

    def _prompt(self, messages: Sequence[ChatMessage]) -> str:
        prompt = "\n".join(m.content for m in messages if m.role is Role.USER)
        self.seen.append(prompt)
        return prompt

    @staticmethod
    def _usage(prompt: str, messages: Sequence[ChatMessage]) -> Usage:
        # Words stand in for tokens: the echo has no tokenizer.
        words = sum(len(m.content.split()) for m in messages)
        return Usage(prompt_tokens=words, completion_tokens=len(prompt.split()))

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        prompt = self._prompt(messages)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        return UpstreamAnswer(prompt, FinishReason.STOP, self._usage(prompt, messages))

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        prompt = self._prompt(messages)
        for start in range(0, len(prompt), self._chunk_chars):
            if self._delay_s:
                await asyncio.sleep(self._delay_s)
            self.chunks_sent += 1
            yield UpstreamPiece(prompt[start : start + self._chunk_chars])
        yield UpstreamPiece("", FinishReason.STOP, self._usage(prompt, messages))
