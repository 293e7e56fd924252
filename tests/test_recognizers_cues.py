"""Cue-based recognizers (introductions, authors, user names), through a real
Presidio engine on blank spaCy pipelines."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerResult

from engines import blank_engine
from privacy_partition.detection.recognizers._cues import cue_recognizers


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return blank_engine(cue_recognizers)


def spans(analyzer: AnalyzerEngine, text: str, entity: str, language: str = "en") -> list[str]:
    results: list[RecognizerResult] = analyzer.analyze(
        text, language=language, entities=[entity], score_threshold=0.4
    )
    return [text[r.start : r.end] for r in sorted(results, key=lambda r: r.start)]


# --- module surface -----------------------------------------------------------


def test_en_has_all_recognizers_and_zh_the_language_neutral_ones() -> None:
    en = {r.name for r in cue_recognizers("en")}
    zh = {r.name for r in cue_recognizers("zh")}
    assert en == {
        "IntroducedNameRecognizer",
        "AuthorRecognizer",
        "UserNameRecognizer",
        "UserFolderRecognizer",
        "HomeCountryRecognizer",
    }
    assert zh == en - {"IntroducedNameRecognizer", "HomeCountryRecognizer"}
    for language in ("en", "zh"):
        for recognizer in cue_recognizers(language):
            assert recognizer.supported_language == language
            assert recognizer.context


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="fr"):
        cue_recognizers("fr")


# --- PERSON after an introduction -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("i am belal a gp doctor", "belal"),
        ("Hello I'm Belal a GP doctor", "Belal"),
        ("Hi I’m Belal, nice to meet you", "Belal"),
        ("I am beachandbytes, a full stack developer", "beachandbytes"),
        ("my name is tim.", "tim"),
        ("My name is John Smith and I need help", "John Smith"),
        ("You can call me Ana", "Ana"),
        ("Best regards,\nsigned, Marta", "Marta"),
        ("Hi, this is John from sales", "John"),
        ("im nico from berlin", "nico"),
    ],
)
def test_names_after_introductions(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "PERSON") == [name]


@pytest.mark.parametrize(
    "text",
    [
        "i am happy to help",
        "I am writing to ask about the job",
        "i am interested in the role",
        "I am a student",
        "I am an engineer",
        "I am the owner",
        "I am not sure",
        "I am going home",
        "I am so tired",
        "i am very grateful",
        "I am here",
        "I am Chinese",
        "I'm currently working on it",
        "this is python code",
        "this is great",
        "i am student in grade 7",
        "I'm gone for a week",
        "i am confused about this",
        "claim a refund",
    ],
)
def test_non_names_after_introductions(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "PERSON") == []


def test_lower_case_name_needs_a_continuation() -> None:
    (recognizer,) = [r for r in cue_recognizers("en") if r.name == "IntroducedNameRecognizer"]
    assert recognizer.analyze("i am belal a doctor", ["PERSON"], None)
    assert recognizer.analyze("i am belal.", ["PERSON"], None)
    assert not recognizer.analyze("i am bored of it", ["PERSON"], None)
    assert not recognizer.analyze("i am belal to the end", ["PERSON"], None)


def test_capitalized_name_scores_above_lower_case(analyzer: AnalyzerEngine) -> None:
    (upper,) = analyzer.analyze("I am Belal, a doctor", language="en", entities=["PERSON"])
    (lower,) = analyzer.analyze("i am belal, a doctor", language="en", entities=["PERSON"])
    assert upper.score > lower.score >= 0.4


def test_introductions_are_english_only(analyzer: AnalyzerEngine) -> None:
    assert spans(analyzer, "我说 I am Belal, a doctor", "PERSON", language="zh") == []


# --- PERSON as author -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("// © TZack88 //@version=5", "TZack88"),
        ("© 2021-2023 janedoe42. All rights reserved", "janedoe42"),
        ('print("Author : by-cteklo")', "cteklo"),
        ("# Author: Jane Roe", "Jane Roe"),
        (" * @author mkowalski", "mkowalski"),
        ("script by-x0rcist", "x0rcist"),
    ],
)
def test_authors(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "PERSON") == [name]


@pytest.mark.parametrize("text", ["© 2023", "author: the team", "stand-by-mode", "author = None"])
def test_non_authors(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "PERSON") == []


# --- USERNAME ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Any problem contact me- @Xtension11 for help", "Xtension11"),
        ("follow @jane_doe.", "jane_doe"),
        ("username: jsmith99", "jsmith99"),
        ("Login=alice.w", "alice.w"),
        ("用户名：zhangwei88", "zhangwei88"),
        ("с данными по доступу initi_user/d2J3BgtYdB2/d2J3BgtYdB2 (MD5)", "initi_user"),
        ("ssh login is backup_op/Xk29fLq8", "backup_op"),
    ],
)
def test_user_names(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "USERNAME") == [name]


@pytest.mark.parametrize(
    "text",
    [
        "write to john@example.com",
        "@app.route('/')\ndef index(): pass",
        "    @property\n    def x(self): ...",
        "import '@angular/core';",
        '<button @click="go">',
        "@media screen { }",
        "username = input()",
        "username: <username>",
        "use and/or here",
        "see src/main12.py",
        "password reset for v2.1/release3",
        "ratio 10/abc123def with no credential word",
        "//@version=5",
    ],
)
def test_non_user_names(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "USERNAME") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("PS C:\\Users\\lidor\\Desktop\\Trade Bot> node index.js", "lidor"),
        ('dataPath = "C:\\\\Users\\\\Я\\\\Documents\\\\data.txt"', "Я"),
        ('File "/home/rickard/Documents/rs232/new copy.py", line 2', "rickard"),
        ("open /Users/mkim/Library/Logs", "mkim"),
        ("D:/users/omar/x.csv", "omar"),
        ("C:\\Documents and Settings\\kate\\Desktop", "kate"),
    ],
)
def test_user_folders(analyzer: AnalyzerEngine, text: str, name: str) -> None:
    assert spans(analyzer, text, "USERNAME") == [name]
    assert spans(analyzer, "路径 " + text, "USERNAME", language="zh") == [name]


@pytest.mark.parametrize(
    "text",
    [
        "C:\\Users\\Public\\Desktop",
        "/home/ubuntu/app",
        "C:\\Users\\%USERNAME%\\AppData",
        "/home/$USER/.bashrc",
        "C:\\Users\\<your name>\\x",
        "/usr/home/lib",
        "~/home/x",
        "C:\\Program Files\\Users\\x",
    ],
)
def test_non_user_folders(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "USERNAME") == []


# --- LOCATION: the writer's own country ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("guidelines for responsible AI usage and my country is belarus", "belarus"),
        ("i live in saudi arabia now", "saudi arabia"),
        ("I am from the united states.", "united states"),
        ("we are based in oman and", "oman"),
        ("I'm from india", "india"),
    ],
)
def test_a_country_the_writer_places_themselves_in(
    analyzer: AnalyzerEngine, text: str, country: str
) -> None:
    assert spans(analyzer, text, "LOCATION") == [country]


@pytest.mark.parametrize(
    "text", ["i am from work", "I live in a small town", "we came from the store", "i live in hope"]
)
def test_only_countries_count(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text, "LOCATION") == []


# --- linear time ----------------------------------------------------------------


def adversarial_texts() -> Iterator[str]:
    size = 1_000_000
    for unit in (
        "a",
        " ",
        "@",
        "@a",
        "@a.",
        "a/",
        "a/b1",
        "aaa/Bb1bbbb ",
        "i am ",
        "i am x ",
        "I am Ab ",
        "© ",
        "©2020-",
        "by-",
        "author: ",
        "username: ",
        "C:\\Users\\",
        "/home/",
        "/home/a",
        "\\\\",
        "password ",
        "i live in ",
        "my country is a ",
    ):
        yield (unit * (size // len(unit) + 1))[:size]


def test_every_recognizer_completes_on_adversarial_megabyte() -> None:
    recognizers = cue_recognizers("en")
    for text in adversarial_texts():
        started = time.perf_counter()
        for recognizer in recognizers:
            results = recognizer.analyze(text, recognizer.supported_entities, None)
            assert isinstance(results, list)
        # Generous: linear scans of a megabyte take well under a second each.
        assert time.perf_counter() - started < 20
