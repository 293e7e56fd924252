"""Fuzz the transform and restore: any prompt, any findings, any answer, any chunking.

Checked for every input: the echo of the cloud text restores to the prompt;
an answer restores the same whole and streamed in pieces; nothing but the
documented errors is raised. Run by ``make fuzz`` (libFuzzer options pass
through: ``-max_total_time=60``, a corpus folder, ``-runs=N``).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["privacy_partition"]):
    from cryptography.hazmat.primitives.asymmetric import x25519

    from privacy_partition._actions import Action, FindingAction
    from privacy_partition.detection import Finding
    from privacy_partition.transform import (
        Keyset,
        Recipient,
        Restorer,
        TokenScope,
        Transformer,
        Vault,
    )

KEYSET = Keyset.generate()
RECIPIENT = Recipient("payments", "k1", x25519.X25519PrivateKey.generate().public_key())
TRANSFORMER = Transformer(KEYSET, {"payments": RECIPIENT}, faker_seed=1)
ACTIONS = (Action.KEEP, Action.REDACT, Action.PSEUDONYMIZE, Action.TOKENIZE, Action.SEAL)
ENTITIES = ("PERSON", "EMAIL_ADDRESS", "LOCATION", "CREDIT_CARD", "cn_resident_id", "URL")
LANGUAGES = ("en", "zh")


def _actions(data: atheris.FuzzedDataProvider, text: str) -> list[FindingAction]:
    """Sorted, disjoint findings over ``text``, each with an action the cloud route allows."""
    cuts = sorted(
        {data.ConsumeIntInRange(0, len(text)) for _ in range(data.ConsumeIntInRange(0, 12))}
    )
    found = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        action = ACTIONS[data.ConsumeIntInRange(0, len(ACTIONS) - 1)]
        entity = ENTITIES[data.ConsumeIntInRange(0, len(ENTITIES) - 1)]
        finding = Finding(entity, start, end, 0.9, "fuzz", "en")
        recipient = "payments" if action is Action.SEAL else None
        found.append(FindingAction(finding, action, recipient))
    return found


def _pieces(data: atheris.FuzzedDataProvider, text: str) -> list[str]:
    pieces, at = [], 0
    while at < len(text):
        size = data.ConsumeIntInRange(0, 16) or len(text) - at
        pieces.append(text[at : at + size])
        at += size
    return pieces


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    text = data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(0, 300))
    actions = _actions(data, text)
    language = LANGUAGES[data.ConsumeIntInRange(0, 1)]
    vault = Vault.session()
    result = TRANSFORMER.apply(text, actions, vault, language)
    echo = Restorer(vault, KEYSET, allow_in_links=True, token_scope=TokenScope.VAULT)
    if echo.restore(result.cloud_text) != text:
        raise AssertionError("the echo of the cloud text did not restore to the prompt")
    # A model's answer: pieces of the cloud text and free text, in any order.
    parts = [result.cloud_text[r.cloud_start : r.cloud_end] for r in result.replacements]
    answer = ""
    for _ in range(data.ConsumeIntInRange(0, 8)):
        if parts and data.ConsumeBool():
            answer += parts[data.ConsumeIntInRange(0, len(parts) - 1)]
        else:
            answer += data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(0, 24))
    for restorer in (echo, Restorer(vault, KEYSET)):
        whole = restorer.restore(answer)
        stream = restorer.stream()
        streamed = "".join(stream.feed(piece) for piece in _pieces(data, answer))
        if streamed + stream.finish() != whole:
            raise AssertionError("the streamed answer differs from the whole one")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
