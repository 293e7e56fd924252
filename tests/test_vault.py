"""The vault: one handle per value, numbers that avoid the text, encrypted files, no copies."""

from __future__ import annotations

import copy
import os
import pickle
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition._actions import Action
from privacy_partition._errors import RestoreError
from privacy_partition.transform import Keyset, Restorer, Transformer, Vault, VaultScope
from strategies import finding_action, prompts

CANARY = "Zebulon Quaxworth"
KEYSET = Keyset.generate()


def offer(*surrogates: str) -> Callable[[int], Iterable[str]]:
    def candidates(n: int) -> Iterable[str]:
        return iter(surrogates)

    return candidates


def test_scopes() -> None:
    assert Vault.session().scope is VaultScope.SESSION
    assert Vault.request().scope is VaultScope.REQUEST
    assert Vault().scope is VaultScope.SESSION


def test_one_value_one_handle_numbered_per_type() -> None:
    vault = Vault.session()
    assert vault.handle_for("PERSON", "Ann") == "<PERSON_1>"
    assert vault.handle_for("PERSON", "Bob") == "<PERSON_2>"
    assert vault.handle_for("PERSON", "Ann") == "<PERSON_1>"
    assert vault.handle_for("LOCATION", "Ann") == "<LOCATION_1>"
    assert vault.view().handles == {
        "<PERSON_1>": "Ann",
        "<PERSON_2>": "Bob",
        "<LOCATION_1>": "Ann",
    }


def test_numbers_written_in_a_seen_text_are_never_issued() -> None:
    vault = Vault.session()
    vault.observe("ask <PERSON_1> and <PERSON_3> but not <PERSON_0> or <person_2>")
    assert vault.handle_for("PERSON", "Ann") == "<PERSON_2>"
    assert vault.handle_for("PERSON", "Bob") == "<PERSON_4>"
    vault.reserve("EMAIL_ADDRESS", 1)
    assert vault.handle_for("EMAIL_ADDRESS", "a@b.c") == "<EMAIL_ADDRESS_2>"


def test_surrogates_avoid_seen_text_and_each_other() -> None:
    vault = Vault.session()
    vault.observe("I met Ryan Gallagher and Jon Cole in Paris")
    # Refused: written by the user (any case), contains / is contained in another surrogate.
    assert vault.pseudonym_for("PERSON", "Ann", offer("ryan gallagher", "Rachel Davis")) == (
        "Rachel Davis"
    )
    assert (
        vault.pseudonym_for("PERSON", "Bob", offer("Rachel", "Rachel Davison", "jon COLE")) is None
    )
    assert vault.pseudonym_for("PERSON", "Bob", offer("PARIS", "Russell Reynolds")) == (
        "Russell Reynolds"
    )
    # Consistent: the same value keeps its surrogate whatever is offered next.
    assert vault.pseudonym_for("PERSON", "Ann", offer("Other Name")) == "Rachel Davis"
    assert dict(vault.view().pseudonyms) == {"rachel davis": "Ann", "russell reynolds": "Bob"}


def test_a_surrogate_never_carries_an_original_inside() -> None:
    vault = Vault.session()
    # "Johnson" would hand the cloud "John"; "Al" is too short to refuse anything.
    assert vault.pseudonym_for("PERSON", "John", offer("Mary Johnson", "Ann Lee")) == "Ann Lee"
    assert vault.pseudonym_for("PERSON", "Lee", offer("Bo Leeds", "Kim Ray")) == "Kim Ray"
    assert vault.pseudonym_for("PERSON", "Bob", offer("Tim JOHNS", "Sam Oak")) == "Sam Oak"
    assert vault.pseudonym_for("PERSON", "Al", offer("Alma Ortiz")) == "Alma Ortiz"
    # A word of an original counts too.
    assert vault.pseudonym_for("LOCATION", "Andra Pradesh", offer("New Sandra", "Oakfield")) == (
        "Oakfield"
    )


def test_a_surrogate_shares_no_word_with_a_seen_text(tmp_path: Path) -> None:
    # "Joseph" is in the prompt, found or not: "Christopher Joseph" would hand it over.
    vault = Vault.session()
    vault.observe("Mark said that joseph was in my cabin")
    assert vault.pseudonym_for("PERSON", "Mark", offer("Christopher Joseph", "Ann Lee")) == (
        "Ann Lee"
    )
    assert vault.pseudonym_for("PERSON", "Bob", offer("Josephine Ray")) == "Josephine Ray"
    # A vault loaded from disk remembers the words it saw.
    keyset = Keyset.generate()
    vault.save(tmp_path / "v", keyset)
    loaded = Vault.load(tmp_path / "v", keyset)
    assert loaded.pseudonym_for("PERSON", "Sue", offer("Kim CABIN", "Sam Oak")) == "Sam Oak"


def test_seen_texts_keep_only_what_no_other_text_contains() -> None:
    vault = Vault.session()
    vault.observe("turn one")
    vault.observe("turn one. turn two")
    vault.observe("two")
    assert vault._seen == ["turn one. turn two"]


def test_views_are_snapshots() -> None:
    vault = Vault.session()
    vault.handle_for("PERSON", "Ann")
    view = vault.view()
    assert vault.view() is view  # cached until the vault changes
    vault.handle_for("PERSON", "Bob")
    assert len(view.handles) == 1
    assert len(vault.view().handles) == 2
    vault.record_token("<TOK:PERSON:0a1b2c3d:AAAA>")
    assert "<TOK:PERSON:0a1b2c3d:AAAA>" in vault.view().tokens


def test_never_serialized_and_repr_shows_counts_only() -> None:
    vault = Vault.session()
    vault.observe(f"hello {CANARY}")
    vault.handle_for("PERSON", CANARY)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(vault)
    with pytest.raises(TypeError):
        pickle.dumps(vault.view())
    for text in (repr(vault), str(vault), repr(vault.view())):
        assert CANARY not in text
    assert repr(vault) == "Vault(scope='session', handles=1, pseudonyms=0, tokens=0)"


def test_concurrent_issuing_gives_one_handle_per_value() -> None:
    vault = Vault.session()
    values = [f"person {i}" for i in range(50)]
    results: list[list[str]] = []

    def issue() -> None:
        results.append([vault.handle_for("PERSON", v) for v in values])

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r == results[0] for r in results)
    assert sorted(results[0], key=lambda h: int(h[8:-1])) == [f"<PERSON_{i}>" for i in range(1, 51)]


# -- persistence -------------------------------------------------------------

TEXT = f"{CANARY} lives at 1 Main St and mails q@example.org"


def filled_vault(keyset: Keyset) -> tuple[Vault, str]:
    vault = Vault.session()
    actions = [
        finding_action("PERSON", 0, len(CANARY), Action.PSEUDONYMIZE),
        finding_action("STREET_ADDRESS", TEXT.index("1 Main"), TEXT.index(" and"), Action.REDACT),
        finding_action("EMAIL_ADDRESS", TEXT.index("q@"), len(TEXT), Action.TOKENIZE),
    ]
    cloud = Transformer(keyset, faker_seed=3).apply(TEXT, actions, vault).cloud_text
    return vault, cloud


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    keyset = Keyset.generate()
    vault, cloud = filled_vault(keyset)
    path = tmp_path / "session.vault"
    vault.save(path, keyset)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = path.read_bytes()
    assert CANARY.encode() not in data
    assert data[8:16] == keyset.primary_id.encode()  # the key id is in the clear
    loaded = Vault.load(path, keyset)
    assert repr(loaded) == repr(vault)
    assert Restorer(loaded, keyset).restore(cloud) == TEXT
    # The loaded vault goes on numbering where the saved one stopped.
    assert loaded.handle_for("STREET_ADDRESS", "2 Side St") == "<STREET_ADDRESS_2>"
    assert loaded.handle_for("STREET_ADDRESS", "1 Main St") == "<STREET_ADDRESS_1>"


def test_tampered_or_foreign_vault_files_fail_closed(tmp_path: Path) -> None:
    keyset = Keyset.generate()
    vault, _ = filled_vault(keyset)
    path = tmp_path / "session.vault"
    vault.save(path, keyset)
    good = path.read_bytes()
    variants = [
        good[:-1],  # truncated
        good[:20],  # header and part of the nonce
        b"",
        b"not a vault at all",
        good[:8] + b"ffffffff" + good[16:],  # another key id
        good + b"x",
    ]
    variants += [good[:i] + bytes([good[i] ^ 1]) + good[i + 1 :] for i in (0, 9, 17, 30, 60)]
    for variant in variants:
        path.write_bytes(variant)
        with pytest.raises(RestoreError) as caught:
            Vault.load(path, keyset)
        assert str(caught.value) == "restore failed"
        assert caught.value.__cause__ is None
    path.write_bytes(good)
    with pytest.raises(RestoreError):
        Vault.load(path, Keyset.generate())  # right format, wrong keys


@pytest.fixture(scope="module")
def vault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vaults")


@settings(max_examples=60, deadline=None)
@given(prompts, st.integers(0, 10_000), st.integers(0, 255))
def test_any_single_byte_change_fails_closed(
    vault_dir: Path, text: str, position: int, flip: int
) -> None:
    keyset = KEYSET
    vault = Vault.session()
    vault.observe(text)
    vault.handle_for("PERSON", text or "x")
    path = vault_dir / "fuzz.vault"
    vault.save(path, keyset)
    data = bytearray(path.read_bytes())
    position %= len(data)
    data[position] ^= flip or 1
    path.write_bytes(bytes(data))
    with pytest.raises(RestoreError):
        Vault.load(path, keyset)
