"""LocalModel: chat generation on the device with onnxruntime-genai.

A :class:`LocalModel` loads one onnxruntime-genai model folder once (the
default is the SmolLM2 build of :mod:`privacy_partition.local._build`; any
folder the onnxruntime-genai builder made works) and answers chat messages
through the model's own chat template (or one given at load time). A base
model, which has no chat template, continues text with
:meth:`LocalModel.complete`. It opens no network connection.

Concurrency: one generation runs at a time. :meth:`LocalModel.generate` and
:meth:`LocalModel.stream` take an internal lock, so calls from several threads
queue and run one after another; a stream holds the lock from its first
``next()`` until it ends, is closed, or is cancelled. Close a stream you stop
reading (``with contextlib.closing(...)`` or ``.close()``) so that the next
caller does not wait for the garbage collector.

Errors are :class:`~privacy_partition._errors.ModelError` and never quote the
prompt or the generated text.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from privacy_partition._errors import InputError, ModelError
from privacy_partition.local._build import verify_if_built

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "Generation",
    "LocalChatModel",
    "LocalModel",
    "TextStream",
    "has_chat_template",
]

DEFAULT_MAX_NEW_TOKENS = 256
_ROLES = frozenset({"system", "user", "assistant"})
_TEMPLATE_FILE = "chat_template.jinja"

FinishReason = Literal["eos", "stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class Generation:
    """One finished answer and how fast it came."""

    text: str
    """The answer, without the stop sequence that ended it."""
    tokens: int
    """Tokens generated (the stop sequence's tokens included)."""
    ttft_s: float
    """Seconds from the call to the first generated token (prompt encoding and prefill)."""
    tokens_per_s: float
    """Decode rate after the first token; 0.0 when fewer than two tokens were generated."""
    finish_reason: FinishReason
    """``eos`` (the model ended), ``stop`` (a stop sequence), ``length`` or ``cancelled``."""


@dataclass(frozen=True, slots=True)
class _Options:
    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    stop: tuple[str, ...]
    seed: int | None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError("max_new_tokens must be at least 1")
        if self.temperature < 0.0:
            raise InputError("temperature must not be negative")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0.0:
            raise InputError("repetition_penalty must be positive")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise InputError("stop sequences must be non-empty strings")


class LocalChatModel(Protocol):
    """What ``PrivacyClient`` asks of a local model: :class:`LocalModel` is one.

    Another implementation (a test double, an audit's stand-in) answers on the
    device just the same: it must not send the messages anywhere, raise
    :class:`ModelError` when it cannot answer, and give a :meth:`stream` whose
    chunks join to what :meth:`generate` returns.
    """

    def generate(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = ...,
        temperature: float = ...,
        top_p: float = ...,
        stop: Sequence[str] = ...,
        seed: int | None = ...,
        cancel: threading.Event | None = ...,
    ) -> Generation: ...

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = ...,
        temperature: float = ...,
        top_p: float = ...,
        stop: Sequence[str] = ...,
        seed: int | None = ...,
        cancel: threading.Event | None = ...,
    ) -> TextStream: ...


class LocalModel:
    """An onnxruntime-genai chat model, loaded once and reused.

    Thread-safe: generations are serialized by a lock (see the module
    docstring). Greedy decoding (``temperature=0``) is deterministic, so
    :meth:`generate` and :meth:`stream` give the same text for the same input.
    """

    def __init__(
        self, folder: Path, *, threads: int | None = None, chat_template: str | None = None
    ) -> None:
        """Load the model in ``folder``.

        ``threads`` overrides ``intra_op_num_threads`` of its ``genai_config.json``;
        ``chat_template`` (Jinja) replaces the folder's own. A folder that
        ``privacy-partition model build`` made is verified against its
        manifest first (:func:`~privacy_partition.local.verify_build`: the
        digests, and on a CPU of another class than the build's, its accuracy
        check). Raises :class:`ModelError` when the folder cannot be loaded
        or fails that verification (:class:`ChecksumError` for a changed file).
        """
        self.folder = Path(folder)
        if not (self.folder / "genai_config.json").is_file():
            raise ModelError(f"local model: no genai_config.json in {self.folder}")
        if threads is not None and threads < 1:
            raise ModelError(f"local model: threads must be at least 1, got {threads}")
        started = time.perf_counter()
        verify_if_built(self.folder)
        try:
            og: Any = importlib.import_module("onnxruntime_genai")
        except ImportError as exc:
            raise ModelError("local model: onnxruntime-genai is not installed") from exc
        try:
            config = og.Config(str(self.folder))
            if threads is not None:
                overlay = {
                    "model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}
                }
                config.overlay(json.dumps(overlay))
            self._model: Any = og.Model(config)
            self._tokenizer: Any = og.Tokenizer(self._model)
        except Exception as exc:  # onnxruntime-genai raises plain RuntimeError and others
            raise ModelError(f"local model: could not load {self.folder}") from exc
        self._og = og
        self._layout = _layout(self.folder)
        self._template = chat_template if chat_template is not None else _chat_template(self.folder)
        self._eos = frozenset(int(t) for t in self._tokenizer.eos_token_ids)
        self._lock = threading.Lock()
        self.load_s = time.perf_counter() - started
        """Seconds the load took."""

    def apply_chat_template(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The prompt text the model sees for ``messages``, ready for the assistant's turn."""
        if not messages:
            raise InputError("messages must not be empty")
        payload = json.dumps([_message(m) for m in messages])
        try:
            if self._template is None:
                prompt: str = self._tokenizer.apply_chat_template(
                    payload, add_generation_prompt=True
                )
            else:
                prompt = self._tokenizer.apply_chat_template(
                    payload, template_str=self._template, add_generation_prompt=True
                )
        except Exception as exc:
            raise ModelError("local model: the chat template failed") from exc
        return prompt

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` encodes to."""
        try:
            return len(self._tokenizer.encode(text))
        except Exception as exc:
            raise ModelError("local model: encoding failed") from exc

    def generate(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Answer ``messages``; blocks until done, cancelled, or out of tokens.

        ``temperature=0`` decodes greedily; otherwise tokens are sampled with
        ``temperature`` and nucleus ``top_p`` (``seed`` makes sampling repeatable).
        Setting ``cancel`` ends the generation after the current token.
        """
        options = _Options(
            max_new_tokens, temperature, top_p, repetition_penalty, tuple(stop), seed
        )
        return _finish(self._run(self.apply_chat_template(messages), options, cancel))

    def complete(
        self,
        text: str,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Continue ``text`` as it is, without a chat template (for base models).

        The options are those of :meth:`generate`. The tokenizer adds the
        model's start-of-text token when the folder's tokenizer asks for it.
        """
        if not isinstance(text, str) or not text:
            raise InputError("text must be non-empty text")
        options = _Options(
            max_new_tokens, temperature, top_p, repetition_penalty, tuple(stop), seed
        )
        return _finish(self._run(text, options, cancel))

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> TextStream:
        """Answer ``messages`` as text chunks, as they are generated.

        The chunks join to the text :meth:`generate` returns for the same
        arguments. Text that might begin a stop sequence is held back until it
        is known not to. Stop early with ``cancel`` or by closing the iterator.
        """
        options = _Options(
            max_new_tokens, temperature, top_p, repetition_penalty, tuple(stop), seed
        )
        return TextStream(self._run(self.apply_chat_template(messages), options, cancel))

    def _run(
        self,
        prompt: str,
        options: _Options,
        cancel: threading.Event | None,
    ) -> Generator[str, None, Generation]:
        with self._lock:
            started = time.perf_counter()
            generator = self._start(prompt, options)
            decoder = self._tokenizer.create_stream()
            text = ""
            sent = 0
            tokens = 0
            first_at = started
            finish: FinishReason = "length"
            try:
                while True:
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    if generator.is_done():
                        finish = "eos" if tokens < options.max_new_tokens else "length"
                        break
                    generator.generate_next_token()
                    token = int(generator.get_next_tokens()[0])
                    tokens += 1
                    if tokens == 1:
                        first_at = time.perf_counter()
                    if token in self._eos:
                        finish = "eos"
                        break
                    text += decoder.decode(token)
                    end, stopped = _safe_end(text, sent, options.stop)
                    if end > sent:
                        yield text[sent:end]
                        sent = end
                    if stopped:
                        finish = "stop"
                        break
                    if tokens >= options.max_new_tokens:
                        finish = "length"
                        break
            except (RuntimeError, ValueError) as exc:
                raise ModelError("local model: generation failed") from exc
            finally:
                del generator
            if finish != "stop" and sent < len(text):
                # The answer ended without completing a stop sequence: the
                # held-back tail is part of the answer.
                yield text[sent:]
                sent = len(text)
            ended = time.perf_counter()
        decode_s = ended - first_at
        rate = (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else 0.0
        return Generation(
            text=text[:sent],
            tokens=tokens,
            ttft_s=(first_at - started) if tokens else 0.0,
            tokens_per_s=rate,
            finish_reason=finish,
        )

    def _start(self, prompt: str, options: _Options) -> Any:
        og = self._og
        try:
            ids = self._tokenizer.encode(prompt)
            bos = self._layout.bos
            if bos is not None and (len(ids) == 0 or int(ids[0]) != bos):
                ids = [bos, *(int(token) for token in ids)]
            # The loop stops at max_new_tokens; the cache may be longer, and a
            # sliding-window model needs one at least as long as its window.
            length = max(len(ids) + options.max_new_tokens, self._layout.min_cache)
            search: dict[str, Any] = {
                "max_length": min(length, self._layout.context) if self._layout.context else length,
                "do_sample": options.temperature > 0.0,
                "repetition_penalty": options.repetition_penalty,
            }
            if options.temperature > 0.0:
                search.update(temperature=options.temperature, top_p=options.top_p, top_k=0)
            if options.seed is not None:
                search["random_seed"] = options.seed
            params = og.GeneratorParams(self._model)
            params.set_search_options(**search)
            generator = og.Generator(self._model, params)
            generator.append_tokens(ids)
        except Exception as exc:
            raise ModelError("local model: could not start a generation") from exc
        return generator


class TextStream(Iterator[str]):
    """The text chunks of one answer, from :meth:`LocalModel.stream`.

    ``close()`` (or leaving a ``with`` block) ends the generation and frees the
    model; ``generation`` holds the finished :class:`Generation` once exhausted.
    """

    def __init__(self, run: Generator[str, None, Generation]) -> None:
        self._run = run
        self.generation: Generation | None = None
        """The finished :class:`Generation`, once the stream is exhausted."""

    def __next__(self) -> str:
        try:
            return next(self._run)
        except StopIteration as done:
            self.generation = done.value
            raise StopIteration from None

    def close(self) -> None:
        self._run.close()

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _finish(run: Generator[str, None, Generation]) -> Generation:
    while True:
        try:
            next(run)
        except StopIteration as done:
            result: Generation = done.value
            return result


def _safe_end(text: str, sent: int, stops: tuple[str, ...]) -> tuple[int, bool]:
    """How far ``text`` may be emitted, and whether a stop sequence was reached.

    Held-back text never contains the start of a stop sequence before ``sent``,
    so a stop can only begin at ``sent`` or later.
    """
    if not stops:
        return len(text), False
    found = [i for i in (text.find(s, sent) for s in stops) if i >= 0]
    if found:
        return min(found), True
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text) - sent), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return len(text) - hold, False


def _message(message: Mapping[str, str]) -> dict[str, str]:
    role = message.get("role")
    content = message.get("content")
    if role not in _ROLES:
        raise InputError(f"a message role must be one of {sorted(_ROLES)}")
    if not isinstance(content, str):
        raise InputError("a message content must be text")
    return {"role": role, "content": content}


@dataclass(frozen=True, slots=True)
class _Layout:
    bos: int | None
    """Prepended to a prompt that lacks it, when the tokenizer config asks for it."""
    min_cache: int
    """The shortest KV cache the model accepts (its sliding window, if any)."""
    context: int | None


def _layout(folder: Path) -> _Layout:
    """What generation needs from the folder's configs that onnxruntime-genai does not apply.

    Its tokenizer ignores ``add_bos_token`` (Gemma: a prompt without ``<bos>``
    derails), and a sliding-window model refuses a cache shorter than the window.
    """
    config: Any = {}
    tokenizer: Any = {}
    with contextlib.suppress(OSError, ValueError):
        config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
    with contextlib.suppress(OSError, ValueError):
        tokenizer = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    model = config.get("model", {}) if isinstance(config, dict) else {}
    model = model if isinstance(model, dict) else {}
    bos = model.get("bos_token_id")
    adds_bos = isinstance(tokenizer, dict) and tokenizer.get("add_bos_token") is True
    window = model.get("decoder", {}).get("sliding_window", {})
    size = window.get("window_size") if isinstance(window, dict) else None
    context = model.get("context_length")
    return _Layout(
        bos=bos if adds_bos and isinstance(bos, int) else None,
        min_cache=size if isinstance(size, int) else 0,
        context=context if isinstance(context, int) else None,
    )


def has_chat_template(folder: Path) -> bool:
    """Whether ``folder`` ships a chat template of its own."""
    return _chat_template(folder) is not None


def _chat_template(folder: Path) -> str | None:
    """The folder's own Jinja chat template, if it ships one outside onnxruntime-genai's lookup."""
    path = folder / _TEMPLATE_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8")
    with contextlib.suppress(OSError, ValueError):
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        template = config.get("chat_template") if isinstance(config, dict) else None
        if isinstance(template, str):
            return template
    return None
