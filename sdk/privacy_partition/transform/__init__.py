"""Transform and restore: what the cloud sees in place of personal values, and the way back.

The low layer under ``PrivacyClient``: a ``Transformer`` carries out the
policy's action for each finding and records what it replaced in a
``Vault``; a ``Restorer`` puts the values back into the answer, whole or
streamed. A ``Keyset`` holds the keys of every operator, with ids, so that
keys rotate without breaking tokens and vault files made before.

Formats the cloud sees (ASCII, no spaces)::

    <PERSON_1>                          redact, seal (a vault handle)
    <TOK:PERSON:1a2b3c4d:MFRGG...>      tokenize (AES-SIV, key id, base32)
    <PERSON#a1b2c3d4e5f6>               hash (HMAC-SHA256, 48 bits)
    ****1111                            mask
    Ryan Gallagher                      pseudonymize (Faker surrogate)

Nothing here opens a connection, logs a value, or puts one in an error.
"""

from privacy_partition.transform._formats import MAX_CANDIDATE_CHARS, MAX_TOKEN_VALUE_BYTES
from privacy_partition.transform._keys import DEFAULT_KEYSET_ENV, Keyset, Purpose
from privacy_partition.transform._restore import Restorer, RestoreStream, TokenScope
from privacy_partition.transform._seal import Recipient, SealedValue, open_sealed
from privacy_partition.transform._transformer import Replacement, Transformed, Transformer
from privacy_partition.transform._vault import Vault, VaultScope

__all__ = [
    "DEFAULT_KEYSET_ENV",
    "MAX_CANDIDATE_CHARS",
    "MAX_TOKEN_VALUE_BYTES",
    "Keyset",
    "Purpose",
    "Recipient",
    "Replacement",
    "RestoreStream",
    "Restorer",
    "SealedValue",
    "TokenScope",
    "Transformed",
    "Transformer",
    "Vault",
    "VaultScope",
    "open_sealed",
]
