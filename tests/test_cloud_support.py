"""Helpers the cloud tests share (this module holds no tests of its own)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence

import grpc

from privacy_partition.cloud import (
    ChatMessage,
    EchoUpstream,
    GenerationOptions,
    UpstreamAnswer,
    UpstreamError,
    UpstreamPiece,
)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def free_port() -> int:
    """A loopback port nothing listens on (as long as no one takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FlakyUpstream:
    """An echo whose first ``failures`` whole answers fail with ``status`` (for retry tests)."""

    def __init__(self, status: grpc.StatusCode, failures: int) -> None:
        self._status = status
        self._failures = failures
        self._echo = EchoUpstream()
        self.calls = 0

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        self.calls += 1
        if self.calls <= self._failures:
            raise UpstreamError(f"flaky upstream, call {self.calls}", status=self._status)
        return await self._echo.generate(messages, options)

    def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        return self._echo.stream(messages, options)

    async def aclose(self) -> None:
        await self._echo.aclose()
