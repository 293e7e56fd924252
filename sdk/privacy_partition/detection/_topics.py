"""Topic scores: how close a prompt comes to a policy's sensitive topics, on the device.

A topic is given by example prompts (``detection.topics`` of a policy). The
scorer embeds the examples once, at construction, with the local MiniLM
sentence encoder; a prompt's score for a topic is the highest cosine
similarity between any window of the prompt and any example of the topic,
clipped to [0, 1]. The policy engine compares it with the topic's threshold.

Why the maximum over examples: a topic such as health is a union of unlike
subjects (a rash, a prescription, a pregnancy), which one averaged vector
blurs. Why the maximum over windows of 128 tokens: a personal remark deep
inside a long prompt must still count, and in one vector of a whole long
prompt (or of 256 tokens) it is averaged away; a short prompt is one
window. Figures behind these choices: ``local_model/minilm/README.md``.

:class:`FixedTopicScorer` is a test double that loads no model; both meet
the :class:`TopicScoring` protocol that decisions take.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np

from privacy_partition._errors import ConfigurationError
from privacy_partition.detection._minilm import (
    DEFAULT_THREADS,
    SentenceEncoder,
    Vectors,
    minilm_folder,
)
from privacy_partition.detection._normalize import normalize

if TYPE_CHECKING:
    from privacy_partition.policy import Policy

__all__ = ["FixedTopicScorer", "TopicScorer", "TopicScoring"]


class TopicScoring(Protocol):
    """What scores a policy's topics: :class:`TopicScorer`, or a test double.

    Scores lie in [0, 1], one per topic; a failure raises
    :class:`~privacy_partition.DetectionError`.
    """

    @property
    def topics(self) -> tuple[str, ...]: ...

    def score(self, text: str) -> dict[str, float]: ...

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class TopicScorer:
    """Scores prompts against named topics with the local embedding model.

    Built once per policy and reused: construction loads and checks the model
    (:class:`~privacy_partition.ModelError` when it is not built: run
    ``privacy-partition model build``) and embeds every example. Scoring
    sends nothing anywhere.

    Thread safety: scoring reads only what construction made, so one scorer
    serves every thread. Determinism: equal texts get equal scores on one
    build of ONNX Runtime. Scoring raises
    :class:`~privacy_partition.DetectionError` if inference fails; callers
    must then fail closed, as for any detection failure.
    """

    def __init__(
        self,
        topics: Mapping[str, Sequence[str]],
        *,
        model_root: Path | None = None,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        """Embed the examples of each topic (name -> example prompts).

        ``model_root`` is the folder of built models (default:
        ``$PRIVACY_PARTITION_MODELS``, else the checkout's ``local_model/``,
        else a cache folder); ``threads`` bounds the model's intra-op threads.
        """
        if not topics:
            raise ConfigurationError("a topic scorer needs at least one topic")
        for name, examples in topics.items():
            if isinstance(examples, str) or not examples:
                raise ConfigurationError(f"topic {name!r} needs a list of examples")
        self._encoder = SentenceEncoder(minilm_folder(model_root), threads=threads)
        names = tuple(topics)
        texts = [example for name in names for example in topics[name]]
        vectors = self._encoder.embed(texts)
        # One matrix of all examples and each topic's columns in it: a prompt's
        # windows are compared with every example in one product.
        self._examples: Vectors = np.ascontiguousarray(vectors.T)
        bounds = np.cumsum([0, *(len(topics[name]) for name in names)])
        self._columns = MappingProxyType(
            {name: slice(int(bounds[i]), int(bounds[i + 1])) for i, name in enumerate(names)}
        )

    @classmethod
    def for_policy(
        cls, policy: Policy, *, model_root: Path | None = None, threads: int = DEFAULT_THREADS
    ) -> TopicScorer:
        """A scorer for the topics of ``policy`` (:class:`ConfigurationError` if it has none)."""
        topics = {name: spec.examples for name, spec in policy.detection.topics.items()}
        return cls(topics, model_root=model_root, threads=threads)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topic names, in the order given."""
        return tuple(self._columns)

    def score(self, text: str) -> dict[str, float]:
        """The score in [0, 1] of ``text`` for each topic."""
        (scores,) = self.score_batch([text])
        return scores

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """:meth:`score` of each text; faster than one call per text.

        Texts are read as detection reads them: disguises taken off (invisible
        characters, full-width forms, look-alike letters) and lone surrogates,
        which the tokenizer refuses, replaced by U+FFFD.
        """
        readable = [_LONE_SURROGATE.sub("\ufffd", normalize(t).text) for t in texts]
        results = []
        for windows in self._encoder.embed_windows(readable):
            similarity = (windows @ self._examples).max(axis=0)
            results.append(
                {
                    name: min(max(float(similarity[columns].max()), 0.0), 1.0)
                    for name, columns in self._columns.items()
                }
            )
        return results


class FixedTopicScorer:
    """A test double: gives every text the same topic scores and loads no model.

    For tests of an app whose policy declares topics, where the topic model
    is not built. Thread-safe and deterministic.
    """

    def __init__(self, scores: Mapping[str, float]) -> None:
        for name, value in scores.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"the score of topic {name!r} must lie in [0, 1]")
        self._scores = MappingProxyType(dict(scores))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self._scores)

    def score(self, text: str) -> dict[str, float]:
        return dict(self._scores)

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(self._scores) for _ in texts]
