"""Keysets: ids, one primary, rotation, purpose keys, and material that never shows."""

from __future__ import annotations

import base64
import copy
import json
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition._actions import Action
from privacy_partition._errors import KeysetError
from privacy_partition.transform import Keyset, Purpose, Restorer, Transformer, Vault
from strategies import finding_action

MATERIAL = bytes(range(32))
MATERIAL_B64 = base64.b64encode(MATERIAL).decode()


def fixed_keyset() -> Keyset:
    return Keyset({"0a1b2c3d": MATERIAL}, "0a1b2c3d")


def assert_no_material(text: str, keyset: Keyset) -> None:
    for key_id in keyset.key_ids:
        for purpose in Purpose:
            derived = keyset.derive(purpose, key_id)
            assert derived.hex() not in text
            assert base64.b64encode(derived).decode() not in text
    assert MATERIAL_B64 not in text
    assert MATERIAL.hex() not in text


def test_generate_makes_one_primary_key_with_a_hex_id() -> None:
    keyset = Keyset.generate()
    assert re.fullmatch(r"[0-9a-f]{8}", keyset.primary_id)
    assert keyset.key_ids == (keyset.primary_id,)


def test_rotate_adds_a_new_primary_and_keeps_the_old_keys() -> None:
    old = Keyset.generate()
    new = old.rotate()
    assert new.primary_id != old.primary_id
    assert new.key_ids == (old.primary_id, new.primary_id)
    assert new.derive(Purpose.TOKENIZE, old.primary_id) == old.derive(Purpose.TOKENIZE)
    assert old.key_ids == (old.primary_id,)  # the original is unchanged


def test_retire_removes_an_old_key_but_never_the_primary() -> None:
    rotated = Keyset.generate().rotate()
    old_id = rotated.key_ids[0]
    assert rotated.retire(old_id).key_ids == (rotated.primary_id,)
    with pytest.raises(KeysetError, match="primary"):
        rotated.retire(rotated.primary_id)
    with pytest.raises(KeysetError):
        rotated.retire("ffffffff")


def test_each_purpose_and_each_key_gets_its_own_derived_key() -> None:
    keyset = Keyset.generate().rotate()
    derived = [keyset.derive(p, k) for p in Purpose for k in keyset.key_ids]
    assert len(set(derived)) == len(derived)
    assert all(MATERIAL not in d for d in derived)
    assert len(keyset.derive(Purpose.TOKENIZE)) == 64  # AES-256-SIV
    assert len(keyset.derive(Purpose.VAULT)) == 32


def test_derivation_is_hkdf_and_stable_across_serialization() -> None:
    keyset = fixed_keyset()
    again = Keyset.from_json(keyset.to_json())
    for purpose in Purpose:
        assert again.derive(purpose) == keyset.derive(purpose)
    # Known answers: changing a label or the KDF would orphan every stored token and vault.
    assert keyset.derive(Purpose.HASH).hex()[:32] == "62f409dff8c7843660559a7df207fac4"
    assert keyset.derive(Purpose.TOKENIZE).hex()[:32] == "d6072b5faf80528c2a1131f9612f536c"
    assert keyset.derive(Purpose.VAULT).hex()[:32] == "84c8195c92232bf928f2a5682462b931"


def test_json_round_trip_and_format() -> None:
    keyset = Keyset.generate().rotate()
    document = json.loads(keyset.to_json())
    assert document["version"] == 1
    assert document["primary"] == keyset.primary_id
    assert [k["id"] for k in document["keys"]] == list(keyset.key_ids)
    again = Keyset.from_json(keyset.to_json())
    assert again.key_ids == keyset.key_ids
    assert again.primary_id == keyset.primary_id


def test_from_file_and_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyset = fixed_keyset()
    path = tmp_path / "keyset.json"
    path.write_text(keyset.to_json())
    path.chmod(0o600)
    assert Keyset.from_file(path).derive(Purpose.HASH) == keyset.derive(Purpose.HASH)
    monkeypatch.setenv("PRIVACY_PARTITION_KEYSET", keyset.to_json())
    assert Keyset.from_env().derive(Purpose.HASH) == keyset.derive(Purpose.HASH)
    monkeypatch.setenv("OTHER_KEYSET", keyset.to_json())
    assert Keyset.from_env("OTHER_KEYSET").primary_id == "0a1b2c3d"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_keyset_file_open_to_others_is_refused_without_quoting_it(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "keyset.json"
    path.write_text(fixed_keyset().to_json())
    path.chmod(mode)
    with pytest.raises(KeysetError, match=rf"mode 0{mode:o}.*chmod 600") as raised:
        Keyset.from_file(path)
    for entry in json.loads(path.read_text())["keys"]:
        assert entry["material"] not in str(raised.value)


def test_a_recipient_pem_file_open_to_others_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import x25519

    from privacy_partition._errors import ConfigurationError
    from privacy_partition.cloud import HostedRecipient

    path = tmp_path / "booking.pem"
    path.write_bytes(
        x25519.X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    assert HostedRecipient.from_pem_file("booking", path).name == "booking"
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="group or others"):
        HostedRecipient.from_pem_file("booking", path)


def test_missing_sources_raise_keyset_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRIVACY_PARTITION_KEYSET", raising=False)
    with pytest.raises(KeysetError, match="PRIVACY_PARTITION_KEYSET"):
        Keyset.from_env()
    with pytest.raises(KeysetError, match="cannot read"):
        Keyset.from_file(tmp_path / "absent.json")


def _doc(**changes: object) -> str:
    document: dict[str, object] = {
        "version": 1,
        "primary": "0a1b2c3d",
        "keys": [{"id": "0a1b2c3d", "material": MATERIAL_B64}],
    }
    document.update(changes)
    return json.dumps(document)


MALFORMED = {
    "not json": MATERIAL_B64 + "{",
    "not an object": json.dumps([MATERIAL_B64]),
    "unknown field": _doc(secret=MATERIAL_B64),
    "bad version": _doc(version=2),
    "no keys": _doc(keys=[]),
    "primary missing": _doc(primary="ffffffff"),
    "primary is material": _doc(primary=MATERIAL_B64),
    "bad id": _doc(keys=[{"id": MATERIAL_B64, "material": MATERIAL_B64}]),
    "short material": _doc(keys=[{"id": "0a1b2c3d", "material": MATERIAL_B64[:20]}]),
    "not base64": _doc(keys=[{"id": "0a1b2c3d", "material": MATERIAL_B64 + "!"}]),
    "extra key field": _doc(keys=[{"id": "0a1b2c3d", "material": MATERIAL_B64, "x": 1}]),
    "duplicate id": _doc(
        keys=[{"id": "0a1b2c3d", "material": MATERIAL_B64}] * 2,
    ),
    "nested too deep": "[" * 100_000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_keysets_raise_without_quoting_material(name: str) -> None:
    with pytest.raises(KeysetError) as caught:
        Keyset.from_json(MALFORMED[name])
    message = str(caught.value)
    assert MATERIAL_B64 not in message
    assert MATERIAL_B64[:12] not in message
    assert caught.value.__cause__ is None


def test_constructor_validates_without_quoting_material() -> None:
    with pytest.raises(KeysetError) as caught:
        Keyset({"0a1b2c3d": MATERIAL}, MATERIAL.hex())
    assert MATERIAL.hex() not in str(caught.value)
    with pytest.raises(KeysetError):
        Keyset({"0a1b2c3d": MATERIAL[:16]}, "0a1b2c3d")
    with pytest.raises(KeysetError):
        Keyset({"XYZ": MATERIAL}, "XYZ")
    with pytest.raises(KeysetError):
        Keyset({}, "0a1b2c3d")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_input_is_a_keyset_error_or_a_keyset(data: str | bytes) -> None:
    message = ""
    try:
        Keyset.from_json(data)
    except KeysetError as error:
        message = str(error)
    assert MATERIAL_B64 not in message


def test_repr_str_and_errors_never_show_material() -> None:
    keyset = fixed_keyset().rotate()
    for text in (repr(keyset), str(keyset), f"{keyset}"):
        assert_no_material(text, keyset)
        assert keyset.primary_id in text
    with pytest.raises(KeysetError) as caught:
        keyset.derive(Purpose.HASH, "ffffffff")
    assert_no_material(str(caught.value), keyset)


def test_keysets_are_immutable_and_do_not_pickle() -> None:
    keyset = Keyset.generate()
    with pytest.raises(AttributeError):
        keyset._primary = "00000000"
    with pytest.raises(TypeError):
        pickle.dumps(keyset)
    assert copy.copy(keyset) is keyset
    assert copy.deepcopy(keyset) is keyset


def test_rotation_keeps_old_tokens_and_vault_files_restorable(tmp_path: Path) -> None:
    key_a = Keyset.generate()
    text = "Ann Lee wrote to ann@example.org"
    actions = [
        finding_action("PERSON", 0, 7, Action.REDACT),
        finding_action("EMAIL_ADDRESS", 17, len(text), Action.TOKENIZE),
    ]
    vault = Vault.session()
    old = Transformer(key_a).apply(text, actions, vault)
    assert f":{key_a.primary_id}:" in old.cloud_text
    vault.save(tmp_path / "vault.bin", key_a)

    key_b = key_a.rotate()
    reloaded = Vault.load(tmp_path / "vault.bin", key_b)
    assert Restorer(reloaded, key_b).restore(old.cloud_text) == text
    # Stateless: the token alone restores under the rotated keyset, with any vault.
    token = old.cloud_text[old.replacements[1].cloud_start :]
    assert token.startswith(f"<TOK:EMAIL_ADDRESS:{key_a.primary_id}:")
    assert Restorer(Vault.request(), key_b).restore(token) == "ann@example.org"

    new = Transformer(key_b).apply(text, actions, Vault.session())
    assert f":{key_b.primary_id}:" in new.cloud_text
    assert key_a.primary_id not in new.cloud_text
    vault.save(tmp_path / "vault2.bin", key_b)
    assert (tmp_path / "vault2.bin").read_bytes()[8:16] == key_b.primary_id.encode()

    # Retiring key A ends what it made: the old token stays as written.
    retired = key_b.retire(key_a.primary_id)
    assert Restorer(Vault.request(), retired).restore(token) == token


# -- recipient key files (sealing; see docs/sealing.md) ----------------------------


def test_keys_generate_writes_a_private_recipient_key_file_that_serve_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import stat

    from privacy_partition.cli import main
    from privacy_partition.cloud._recipients import load_key_files

    path = tmp_path / "payments.json"
    assert main(["keys", "generate", "--out", str(path), "--recipient", "payments"]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    (recipient,) = load_key_files(path)
    assert recipient.name == "payments"
    assert recipient.recipient.key_id in capsys.readouterr().out
    # A second run rotates: a new current key, the old one kept for opening.
    assert main(["keys", "generate", "--out", str(path), "--recipient", "payments"]) == 0
    assert len(load_key_files(path)[0].key_ids) == 2
    # Another recipient's file is not overwritten.
    assert main(["keys", "generate", "--out", str(path), "--recipient", "booking"]) == 2
    assert "payments" in capsys.readouterr().err
    with pytest.raises(TypeError):
        pickle.dumps(recipient)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_recipient_key_files_open_to_others_are_refused(
    tmp_path: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from privacy_partition._errors import ConfigurationError
    from privacy_partition.cli import main
    from privacy_partition.cloud._recipients import add_key_to_file, load_key_files

    path = tmp_path / "booking.json"
    add_key_to_file(path, "booking")
    material = path.read_text()
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match=rf"chmod 600 .*\(mode 0{mode:o}\)|mode 0{mode:o}"):
        load_key_files(path)
    with pytest.raises(ConfigurationError, match="group or others"):
        add_key_to_file(path, "booking")  # nor extended
    # serve names the file and the fix, and quotes no key.
    assert main(["serve", "--recipient-keys", str(path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "chmod 600" in err
    for entry in json.loads(material)["keys"]:
        assert entry["private_key"] not in err


def test_malformed_recipient_key_files_are_refused_without_quoting_them(tmp_path: Path) -> None:
    from privacy_partition._errors import ConfigurationError
    from privacy_partition.cloud._recipients import add_key_to_file, load_key_files

    path = tmp_path / "booking.json"
    add_key_to_file(path, "booking")
    document = json.loads(path.read_text())
    secret = document["keys"][0]["private_key"]
    document["keys"][0]["key_id"] = "00000000"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match=r"keys\[0\]") as caught:
        load_key_files(path)
    assert secret not in str(caught.value)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_key_files(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no recipient key files"):
        load_key_files(tmp_path / "empty")


def test_objects_that_hold_private_keys_do_not_pickle() -> None:
    import copy

    from privacy_partition.cloud import ClientTls

    tls = ClientTls(certificate_chain=b"chain", private_key=b"private key bytes")
    with pytest.raises(TypeError, match="not serializable"):
        pickle.dumps(tls)
    assert "private key bytes" not in repr(tls)
    assert copy.copy(tls) == tls  # copies stay in the process


def test_server_tls_does_not_pickle() -> None:
    from privacy_partition.cloud import ServerTls

    tls = ServerTls(b"chain", b"server private key")
    with pytest.raises(TypeError, match="not serializable"):
        pickle.dumps(tls)
    assert "server private key" not in repr(tls)
