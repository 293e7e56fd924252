"""Generate the Python code of the gRPC contract into sdk/privacy_partition/cloud/_pb/.

Usage::

    python proto/generate.py            # rewrite the committed code
    python proto/generate.py --check    # exit 1 if the committed code is stale

The generated files are committed so that installing the SDK needs no
protoc; ``tests/test_gateway.py`` regenerates them into a temporary folder
and fails when they differ. Output depends on the grpcio-tools version:
regenerate after upgrading it.

protoc names modules after the proto path (``privacy_partition.v1``), which
would collide with the SDK's own package, so the files are moved into
``privacy_partition.cloud._pb`` and their imports rewritten to match.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTOS = ("privacy_partition/v1/gateway.proto",)
DEFAULT_OUT = PROTO_ROOT.parent / "sdk" / "privacy_partition" / "cloud" / "_pb"
_PROTOC_PACKAGE = "privacy_partition.v1"
_TARGET_PACKAGE = "privacy_partition.cloud._pb"
_INIT = '"""Code generated from proto/ by proto/generate.py. Do not edit."""\n'
# Generated code is kept byte for byte as protoc writes it: no lint, format or strict typing.
# (pyproject.toml also excludes _pb/; the header keeps any tool run on the file quiet.)
_HEADER = "# ruff: noqa\n# fmt: off\n# mypy: ignore-errors\n"


def _rewrite(text: str) -> str:
    for module in ("gateway_pb2",):
        text = text.replace(
            f"from {_PROTOC_PACKAGE} import {module} ", f"from {_TARGET_PACKAGE} import {module} "
        )
        text = text.replace(f"'{_PROTOC_PACKAGE}.{module}'", f"'{_TARGET_PACKAGE}.{module}'")
    return _HEADER + text


def generate(out: Path) -> list[Path]:
    """Write the generated modules into ``out``; return the files written, sorted."""
    from grpc_tools import protoc  # a build-time dependency only

    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as raw:
        status = protoc.main(
            [
                "protoc",
                f"-I{PROTO_ROOT}",
                f"-I{include}",
                f"--python_out={raw}",
                f"--pyi_out={raw}",
                f"--grpc_python_out={raw}",
                *PROTOS,
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status}")
        for source in sorted(Path(raw).rglob("*.py*")):
            target = out / source.name
            target.write_text(_rewrite(source.read_text(encoding="utf-8")), encoding="utf-8")
            written.append(target)
    init = out / "__init__.py"
    init.write_text(_INIT, encoding="utf-8")
    written.append(init)
    return sorted(written)


def stale_files(committed: Path = DEFAULT_OUT) -> list[str]:
    """Names of generated files that differ from, or are missing in, ``committed``."""
    with tempfile.TemporaryDirectory() as fresh:
        stale = []
        for path in generate(Path(fresh)):
            target = committed / path.name
            if not target.is_file() or target.read_bytes() != path.read_bytes():
                stale.append(path.name)
        return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
