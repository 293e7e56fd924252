"""A Presidio engine on blank spaCy pipelines, for testing recognizers alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine


def blank_engine(
    recognizers_for: Callable[[str], list[EntityRecognizer]],
    languages: Sequence[str] = ("zh", "en"),
) -> AnalyzerEngine:
    """An engine running ``recognizers_for(language)`` for each language, without NER."""
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": lang, "model_name": lang} for lang in languages]
    )
    nlp_engine.nlp = {language: spacy.blank(language) for language in languages}
    registry = RecognizerRegistry(supported_languages=list(languages))
    registry.recognizers = [r for language in languages for r in recognizers_for(language)]
    return AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=list(languages)
    )
