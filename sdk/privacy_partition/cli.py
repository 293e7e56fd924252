"""The ``privacy-partition`` command.

Exit status: 0 success; 1 the work failed (detection, a model); 2 bad usage
or configuration. Errors go to stderr and never quote the input text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privacy_partition._errors import (
    ConfigurationError,
    InputError,
    PolicyError,
    PrivacyPartitionError,
)

if TYPE_CHECKING:
    from privacy_partition.detection import AnalyzerConfig

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
    from privacy_partition._artifacts import ARTIFACTS, RAMPART, ensure_artifact
    from privacy_partition._quantize import ensure_int8

    def progress(line: str) -> None:
        print(line, flush=True)

    for spec in ARTIFACTS:
        folder = ensure_artifact(spec, args.models, progress=progress)
        if spec is RAMPART:
            ensure_int8(folder, progress)
        print(f"{spec.name}: ready in {folder}")
    from privacy_partition.local import build_smollm2

    print(f"smollm2: ready in {build_smollm2(args.models, progress)}")
    return EXIT_OK


def _model_info(args: argparse.Namespace) -> int:
    from privacy_partition._artifacts import ARTIFACTS, RAMPART, artifact_folder, artifact_info
    from privacy_partition._quantize import INT8_FILE, verify_int8

    rows: list[dict[str, str | int]] = [artifact_info(spec, args.models) for spec in ARTIFACTS]
    int8 = artifact_folder(RAMPART, args.models) / INT8_FILE
    try:
        verify_int8(artifact_folder(RAMPART, args.models))
        state = "ready"
    except PrivacyPartitionError:
        state = "missing" if not int8.exists() else "damaged"
    rows.append(
        {
            "name": "rampart-int8 (built from rampart; what the Analyzer runs)",
            "folder": str(int8.parent),
            "state": state,
            "bytes": int8.stat().st_size if int8.exists() else 0,
        }
    )
    from privacy_partition.local import smollm2_folder, verify_build

    local = smollm2_folder(args.models)
    try:
        verify_build(local)
        local_state = "ready"
    except PrivacyPartitionError:
        local_state = "missing" if not local.exists() else "damaged"
    rows.append(
        {
            "name": "smollm2 (SmolLM2-135M-Instruct, int8, onnxruntime-genai)",
            "folder": str(local),
            "state": local_state,
            "bytes": sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
            if local.exists()
            else 0,
        }
    )
    json.dump(rows, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _analyzer_config(args: argparse.Namespace) -> AnalyzerConfig:
    from privacy_partition.detection import AnalyzerConfig

    return AnalyzerConfig(ner_model=args.ner_model, model_root=args.models)


def _policy_check(args: argparse.Namespace) -> int:
    from privacy_partition.policy import load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        print(f"privacy-partition: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"ok: {policy.name} ({args.file}), digest {policy.digest[:16]}")
    return EXIT_OK


def _policy_test(args: argparse.Namespace) -> int:
    from privacy_partition.policy import analyzer_for, load_policy, run_policy_tests

    policy = load_policy(args.file)
    results = run_policy_tests(policy, analyzer_for(policy, _analyzer_config(args)))
    for result in results:
        print(result)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def _policy_explain(args: argparse.Namespace) -> int:
    from privacy_partition.policy import analyzer_for, explain, load_policy

    policy = load_policy(args.file)
    analyzer = analyzer_for(policy, _analyzer_config(args))
    report = explain(policy, analyzer, _read_text(args.text), language=args.lang)
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _sanitize(args: argparse.Namespace) -> int:
    from privacy_partition._sanitize import Sanitizer
    from privacy_partition.policy import load_policy

    sanitizer = Sanitizer(load_policy(args.policy), analyzer_config=_analyzer_config(args))

    def rows() -> Iterator[tuple[object, str]]:
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                request_id, text = row["id"], row["text"]
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    f"line {number}: expected a JSON object with 'id' and 'text'"
                ) from None
            if not isinstance(text, str):
                raise InputError(f"line {number}: 'text' must be a string")
            yield request_id, text

    for out in sanitizer.iter_jsonl_batches(rows()):
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from privacy_partition.cloud import EchoUpstream, GatewayServer, HostedRecipient, ServerTls

    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise ConfigurationError("--tls-cert and --tls-key go together")
        tls = ServerTls(
            args.tls_cert.read_bytes(),
            args.tls_key.read_bytes(),
            args.client_ca.read_bytes() if args.client_ca else None,
        )
    elif args.client_ca:
        raise ConfigurationError("--client-ca needs --tls-cert and --tls-key")
    recipients = []
    for spec in args.recipient or ["booking"]:
        name, _, key_file = spec.partition("=")
        recipients.append(
            HostedRecipient.from_pem_file(name, key_file)
            if key_file
            else HostedRecipient.generate(name)
        )

    async def run() -> None:
        server = GatewayServer(EchoUpstream(), recipients, tls=tls)
        port = await server.start(f"{args.host}:{args.port}")
        print(f"gateway serving on {args.host}:{port} (upstream echo)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(run())
    return EXIT_OK


def _add_ner_flag(parser: argparse.ArgumentParser, default: bool) -> None:
    parser.add_argument(
        "--ner-model",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="also run the local ONNX NER model (Rampart)",
    )


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
    _add_ner_flag(analyze, DEFAULT_NER_MODEL)
    analyze.add_argument(
        "--show-values", action="store_true", help="include each finding's text in the output"
    )
    analyze.set_defaults(run=_analyze)

    sanitize = commands.add_parser(
        "sanitize",
        help="detect, decide and transform JSONL prompts offline (no network call)",
        description='Reads {"id": ..., "text": ...} per line on standard input; writes '
        '{"id", "route", "cloud_text", "entities", "reasons"} per line. A prompt whose '
        "detection or transformation fails is reported as route block.",
    )
    sanitize.add_argument("--policy", required=True, type=Path, help="the policy file")
    sanitize.add_argument("--jsonl", action="store_true", required=True, help="JSONL in and out")
    _add_ner_flag(sanitize, DEFAULT_NER_MODEL)
    sanitize.set_defaults(run=_sanitize)

    serve = commands.add_parser(
        "serve",
        help="run the reference gRPC gateway (upstream: echo, for tests and leak audits)",
        description="Runs the reference gateway until SIGINT or SIGTERM, then drains "
        "in-flight calls. Without TLS it listens in plaintext: use that on loopback only.",
    )
    serve.add_argument("--upstream", choices=["echo"], default="echo", help="the upstream model")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain")
    serve.add_argument("--tls-key", type=Path, help="PEM private key")
    serve.add_argument("--client-ca", type=Path, help="PEM CA for client certificates (mTLS)")
    serve.add_argument(
        "--recipient",
        action="append",
        metavar="NAME[=KEY.pem]",
        help="a hosted recipient; a fresh key when no file is given (default: booking)",
    )
    serve.set_defaults(run=_serve)

    policy = commands.add_parser("policy", help="check, test or explain a policy file")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_commands.add_parser(
        "check", help="validate FILE; exit 1 naming file, line and column on an error"
    )
    check.add_argument("file", metavar="FILE")
    check.set_defaults(run=_policy_check)
    test = policy_commands.add_parser(
        "test", help="run FILE's embedded tests; exit 1 saying what differed"
    )
    test.add_argument("file", metavar="FILE")
    _add_ner_flag(test, DEFAULT_NER_MODEL)
    test.set_defaults(run=_policy_test)
    explain = policy_commands.add_parser(
        "explain",
        help="show the findings, the rule that fired and what each value becomes (masked)",
    )
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("text", metavar="TEXT", help="the text, or '-' to read standard input")
    explain.add_argument("--lang", choices=["en", "zh"], help="force a language (default: detect)")
    _add_ner_flag(explain, DEFAULT_NER_MODEL)
    explain.set_defaults(run=_policy_explain)

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
