"""The ``privacy-partition`` command.

Exit status: 0 success; 1 the work failed (detection, a model); 2 bad usage
or configuration. Errors go to stderr and never quote the input text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from privacy_partition._errors import (
    ConfigurationError,
    InputError,
    PrivacyPartitionError,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _read_text(argument: str) -> str:
    if argument != "-":
        return argument
    data = sys.stdin.buffer.read()
    # Invalid UTF-8 becomes U+FFFD: offsets then index the text as decoded.
    return data.decode("utf-8", errors="replace")


def _analyze(args: argparse.Namespace) -> int:
    from privacy_partition.detection import Analyzer, AnalyzerConfig

    config = AnalyzerConfig(
        spacy_pipeline=args.spacy_pipeline,
        ner_model=args.ner_model,
        model_root=args.models,
    )
    text = _read_text(args.text)
    findings = Analyzer(config).analyze(text, language=args.lang)
    rows = []
    for finding in findings:
        row = finding.as_dict()
        if args.show_values:
            row["value"] = finding.value_in(text)
        rows.append(row)
    json.dump({"findings": rows}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _model_build(args: argparse.Namespace) -> int:
    from privacy_partition._artifacts import ARTIFACTS, ensure_artifact

    for spec in ARTIFACTS:
        folder = ensure_artifact(spec, args.models, progress=lambda line: print(line, flush=True))
        print(f"{spec.name}: ready in {folder}")
    return EXIT_OK


def _model_info(args: argparse.Namespace) -> int:
    from privacy_partition._artifacts import ARTIFACTS, artifact_info

    json.dump([artifact_info(spec, args.models) for spec in ARTIFACTS], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from privacy_partition import __version__
    from privacy_partition.detection import DEFAULT_NER_MODEL
    from privacy_partition.detection._nlp import DEFAULT_SPACY_PIPELINE

    parser = argparse.ArgumentParser(
        prog="privacy-partition",
        description="Keep personal data on the device; send general knowledge to the cloud.",
        epilog="Exit status: 0 success, 1 failure, 2 bad usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--models",
        type=Path,
        default=None,
        help="folder of built models (default: $PRIVACY_PARTITION_MODELS, else a cache folder)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = commands.add_parser(
        "analyze",
        help="print the personal data found in a text as JSON",
        description="Find personal data in TEXT (or standard input with '-') and print "
        "the findings as JSON: entity type, span, score, recognizer, language. "
        "Values are not printed unless --show-values is given.",
    )
    analyze.add_argument("text", metavar="TEXT", help="the text, or '-' to read standard input")
    analyze.add_argument("--lang", choices=["en", "zh"], help="force a language (default: detect)")
    analyze.add_argument(
        "--spacy-pipeline", default=DEFAULT_SPACY_PIPELINE, help="installed spaCy pipeline"
    )
    analyze.add_argument(
        "--ner-model",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_NER_MODEL,
        help="also run the local ONNX NER model (Rampart)",
    )
    analyze.add_argument(
        "--show-values", action="store_true", help="include each finding's text in the output"
    )
    analyze.set_defaults(run=_analyze)

    model = commands.add_parser("model", help="build or inspect the local models")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    build = model_commands.add_parser(
        "build", help="fetch and verify every model that is missing or damaged (idempotent)"
    )
    build.set_defaults(run=_model_build)
    info = model_commands.add_parser("info", help="print each model, its folder, size and state")
    info.set_defaults(run=_model_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigurationError, InputError) as error:
        print(f"privacy-partition: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PrivacyPartitionError as error:
        print(f"privacy-partition: error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
