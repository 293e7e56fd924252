"""``OnnxUpstream``: an onnxruntime-genai model served by the gateway itself.

The offline default upstream, standing in for a larger cloud model: the
gateway answers with a ``LocalModel`` (SmolLM2 unless told otherwise), so a
gateway runs with no network at all. The model is loaded once, when the
upstream is made, never inside a request.

Concurrency: the model generates one answer at a time, on one worker thread,
off the event loop; other requests wait their turn there. A request whose
call is cancelled (the client cancelled, its deadline passed, the gateway
stopped) never starts if it was still waiting, and stops after the current
token if it was running. Streamed text reaches the loop through a queue, piece
by piece, as the model writes it.

Errors are ``UpstreamError``s that name no content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from privacy_partition._errors import ConfigurationError, InputError, ModelError
from privacy_partition.cloud._errors import UpstreamError
from privacy_partition.cloud._types import ChatMessage, FinishReason, GenerationOptions, Usage
from privacy_partition.cloud._upstream import UpstreamAnswer, UpstreamPiece
from privacy_partition.local import Generation, LocalModel, smollm2_folder

__all__ = ["DEFAULT_ONNX_MAX_TOKENS", "OnnxUpstream"]

DEFAULT_ONNX_MAX_TOKENS = 256
"""Tokens an answer may have when the request leaves ``max_tokens`` to the gateway."""

_FAILED = "the onnx model failed"
_FINISH = {
    "eos": FinishReason.STOP,
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "cancelled": FinishReason.STOP,
}


@dataclass(frozen=True, slots=True)
class _Prepared:
    chat: list[dict[str, str]]
    prompt_tokens: int
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Finished:
    finish_reason: FinishReason
    usage: Usage


class OnnxUpstream:
    """Answers with an onnxruntime-genai chat model in the gateway's own process.

    ``model`` is a loaded ``LocalModel`` (shared, never closed here), a model
    folder, or None for the SmolLM2 build (``privacy-partition model build``).
    Requests that leave ``max_tokens`` or ``temperature`` to the gateway get
    ``max_tokens`` and ``temperature`` (0: greedy, deterministic). An answer
    never runs past the model's context.

    ``generations``, ``cancelled`` and ``tokens`` count finished generations,
    those a cancel ended, and the tokens generated, for tests and metrics.
    """

    def __init__(
        self,
        model: LocalModel | Path | None = None,
        *,
        max_tokens: int = DEFAULT_ONNX_MAX_TOKENS,
        temperature: float = 0.0,
    ) -> None:
        if max_tokens < 1 or not 0.0 <= temperature <= 2.0:
            raise ConfigurationError("max_tokens >= 1 and 0 <= temperature <= 2 are required")
        if not isinstance(model, LocalModel):
            model = LocalModel(smollm2_folder() if model is None else Path(model))
        self.model = model
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._context = _context_length(model.folder)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="privacy-partition-onnx")
        self.generations = 0
        self.cancelled = 0
        self.tokens = 0

    def __repr__(self) -> str:
        return f"OnnxUpstream({self.model.folder.name!r}, max_tokens={self._max_tokens})"

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._answer, messages, options, cancel
            )
        finally:
            cancel.set()  # a cancelled call: the worker stops after the current token

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Finished | UpstreamError] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: str | _Finished | UpstreamError) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: no one is listening any more
                cancel.set()

        job = loop.run_in_executor(self._executor, self._produce, messages, options, cancel, put)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, UpstreamError):
                    raise item
                if isinstance(item, _Finished):
                    yield UpstreamPiece("", item.finish_reason, item.usage)
                    return
                yield UpstreamPiece(item)
        finally:
            cancel.set()
            job.cancel()  # a job still waiting for the worker never starts

    async def aclose(self) -> None:
        """Stop the worker: waiting jobs are dropped, a running one is waited for."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    # -- on the worker thread -------------------------------------------------

    def _answer(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, cancel: threading.Event
    ) -> UpstreamAnswer:
        with _translated():
            prepared = self._prepare(messages, options)
            generation = self.model.generate(prepared.chat, cancel=cancel, **prepared.kwargs)
        finished = self._finished(prepared, generation)
        return UpstreamAnswer(generation.text, finished.finish_reason, finished.usage)

    def _produce(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        cancel: threading.Event,
        put: Callable[[str | _Finished | UpstreamError], None],
    ) -> None:
        try:
            with _translated():
                prepared = self._prepare(messages, options)
                with self.model.stream(prepared.chat, cancel=cancel, **prepared.kwargs) as text:
                    for piece in text:
                        put(piece)
            if text.generation is not None:  # None: closed early, nobody is listening
                put(self._finished(prepared, text.generation))
        except Exception as error:  # the consumer waits on the queue: every end must reach it
            put(error if isinstance(error, UpstreamError) else UpstreamError(_FAILED))

    def _prepare(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> _Prepared:
        chat = [{"role": m.role.value, "content": m.content} for m in messages]
        prompt_tokens = self.model.count_tokens(self.model.apply_chat_template(chat))
        max_tokens = options.max_tokens or self._max_tokens
        if self._context is not None:
            room = self._context - prompt_tokens
            if room < 1:
                raise UpstreamError(
                    f"the prompt is {prompt_tokens} tokens, over the model's context"
                    f" of {self._context}",
                    status=grpc.StatusCode.INVALID_ARGUMENT,
                )
            max_tokens = min(max_tokens, room)
        temperature = self._temperature if options.temperature is None else options.temperature
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 1.0 if options.top_p is None else options.top_p,
            "stop": options.stop,
            "seed": options.seed,
        }
        return _Prepared(chat, prompt_tokens, kwargs)

    def _finished(self, prepared: _Prepared, generation: Generation) -> _Finished:
        self.generations += 1
        self.tokens += generation.tokens
        if generation.finish_reason == "cancelled":
            self.cancelled += 1
        usage = Usage(prompt_tokens=prepared.prompt_tokens, completion_tokens=generation.tokens)
        return _Finished(_FINISH[generation.finish_reason], usage)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """The model's errors as the gateway reports them (their messages name no content)."""
    try:
        yield
    except InputError as error:
        raise UpstreamError(str(error), status=grpc.StatusCode.INVALID_ARGUMENT) from error
    except ModelError as error:
        raise UpstreamError(_FAILED) from error


def _context_length(folder: Path) -> int | None:
    """The model's context in tokens, from its ``genai_config.json`` (None: not stated)."""
    try:
        config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
        length = config["model"]["context_length"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return length if isinstance(length, int) and length > 0 else None
