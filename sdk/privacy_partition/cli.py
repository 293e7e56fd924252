"""The ``privacy-partition`` command.

Exit status: 0 success; 1 the work failed (detection, a model) or was
refused (a request the policy blocks, a broken audit log); 2 bad usage or
configuration. Errors go to stderr and never quote the input text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privacy_partition._errors import (
    ConfigurationError,
    InputError,
    PolicyError,
    PrivacyPartitionError,
)

if TYPE_CHECKING:
    from privacy_partition.client import PrivacyClient, Reply
    from privacy_partition.cloud import BackgroundGateway
    from privacy_partition.detection import AnalyzerConfig

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_POLICY_FILE_HELP = "a policy file, or the name of a shipped policy (e.g. default)"


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
    from privacy_partition.local import ModelRegistry

    def progress(line: str) -> None:
        print(line, flush=True)

    # Every name is checked before anything is downloaded.
    registry = ModelRegistry.builtin(args.models)
    asked = {registry.get(name).name for name in args.names}
    local = [spec for spec in registry if spec.default or args.all or spec.name in asked]
    for spec in local:
        if spec.build_recipe is None:
            raise ConfigurationError(f"local model {spec.name} has no build recipe")
    for artifact in ARTIFACTS:
        folder = ensure_artifact(artifact, args.models, progress=progress)
        if artifact is RAMPART:
            ensure_int8(folder, progress)
        print(f"{artifact.name}: ready in {folder}")
    from privacy_partition.detection import build_minilm

    print(f"minilm: ready in {build_minilm(args.models, progress)}")
    for spec in local:
        print(f"{spec.name}: ready in {spec.build(args.models, progress)}")
    return EXIT_OK


def _model_info(args: argparse.Namespace) -> int:
    from privacy_partition._artifacts import ARTIFACTS, RAMPART, artifact_folder, artifact_info
    from privacy_partition._cpu import cpu_class
    from privacy_partition._int8 import read_manifest
    from privacy_partition._quantize import INT8_FILE, verify_int8
    from privacy_partition.detection._minilm import MODEL_FILE, minilm_folder, verify_minilm

    rows: list[dict[str, object]] = [dict(artifact_info(spec, args.models)) for spec in ARTIFACTS]
    rampart, minilm = artifact_folder(RAMPART, args.models), minilm_folder(args.models)
    built: tuple[tuple[str, Path, Path, Callable[[Path], object]], ...] = (
        (
            "rampart-int8 (built from rampart; what the Analyzer runs)",
            rampart,
            rampart / INT8_FILE,
            verify_int8,
        ),
        (
            "minilm-int8 (the topic model of policies' topics)",
            minilm,
            minilm / MODEL_FILE,
            verify_minilm,
        ),
    )
    for name, folder, model, verify in built:
        try:
            verify(folder)
            state = "ready"
        except PrivacyPartitionError:
            state = "missing" if not model.exists() else "damaged"
        size = model.stat().st_size if model.exists() else 0
        row: dict[str, object] = {
            "name": name,
            "folder": str(model.parent),
            "state": state,
            "bytes": size,
        }
        if state == "ready":
            manifest = read_manifest(name.split()[0], model)
            row |= {
                "scheme": manifest.scheme,
                "checked_on": manifest.cpu_class,
                "this_cpu": cpu_class(),
                manifest.metric: manifest.value,
            }
        rows.append(row)
    from privacy_partition.local import ModelRegistry

    registry = ModelRegistry.builtin(args.models)
    for config in args.config:
        registry.load_file(config)
    rows.extend(spec.describe() for spec in registry)
    json.dump(rows, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _analyzer_config(args: argparse.Namespace) -> AnalyzerConfig:
    from privacy_partition.detection import AnalyzerConfig

    return AnalyzerConfig(ner_model=args.ner_model, model_root=args.models)


def _policy_check(args: argparse.Namespace) -> int:
    from privacy_partition.policy import lint, load_policy, producible_types

    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        print(f"privacy-partition: {error}", file=sys.stderr)
        return EXIT_FAILED
    warnings = lint(policy, producible_types(policy, ner_model=args.ner_model))
    for warning in warnings:
        print(f"privacy-partition: warning: {args.file}: {warning}", file=sys.stderr)
    print(f"ok: {policy.name} ({args.file}), digest {policy.digest[:16]}")
    return EXIT_FAILED if warnings and args.strict else EXIT_OK


def _policy_test(args: argparse.Namespace) -> int:
    from privacy_partition.detection import TopicScorer
    from privacy_partition.policy import analyzer_for, load_policy, run_policy_tests

    policy = load_policy(args.file)
    # Tests then see the topic model's scores, as a real request would.
    topics = (
        TopicScorer.for_policy(policy, model_root=args.models) if policy.detection.topics else None
    )
    results = run_policy_tests(policy, analyzer_for(policy, _analyzer_config(args)), topics)
    for result in results:
        print(result)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def _policy_explain(args: argparse.Namespace) -> int:
    from privacy_partition.detection import TopicScorer
    from privacy_partition.policy import analyzer_for, explain, load_policy

    policy = load_policy(args.file)
    analyzer = analyzer_for(policy, _analyzer_config(args))
    text = _read_text(args.text)
    # The topic model scores the text as a request would be scored: explain decides the same.
    topics = (
        TopicScorer.for_policy(policy, model_root=args.models).score(text)
        if policy.detection.topics
        else None
    )
    report = explain(policy, analyzer, text, language=args.lang, topics=topics)
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _sanitize(args: argparse.Namespace) -> int:
    from privacy_partition._sanitize import Sanitizer
    from privacy_partition.policy import load_policy

    sanitizer = Sanitizer(load_policy(args.policy), analyzer_config=_analyzer_config(args))
    failed = sanitizer.write_jsonl(sys.stdin.buffer, sys.stdout, fail_fast=args.fail_fast)
    if not failed:
        return EXIT_OK
    print(
        f"privacy-partition: error: {len(failed)} malformed lines (the first: line "
        f"{failed[0].line}); each has its error row in the output",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _upstream_spec(value: str) -> str:
    """``--upstream``: echo, onnx or openai:URL."""
    if value in ("echo", "onnx") or (value.startswith("openai:") and len(value) > len("openai:")):
        return value
    raise argparse.ArgumentTypeError("expected echo, onnx or openai:URL")


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal

    from privacy_partition.cloud import (
        DEFAULT_API_KEY_ENV,
        EchoUpstream,
        GatewayServer,
        HostedRecipient,
        OnnxUpstream,
        OpenAIUpstream,
        ServerTls,
        Upstream,
    )

    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise ConfigurationError("--tls-cert and --tls-key go together")
        tls = ServerTls(
            _read_file("--tls-cert", args.tls_cert),
            _read_file("--tls-key", args.tls_key),
            _read_file("--client-ca", args.client_ca) if args.client_ca else None,
        )
    elif args.client_ca:
        raise ConfigurationError("--client-ca needs --tls-cert and --tls-key")
    elif not _is_loopback(args.host):
        if not args.allow_plaintext:
            raise ConfigurationError(
                f"--host {args.host} is not a loopback address: serve over TLS (--tls-cert and"
                " --tls-key, --client-ca for mTLS), or pass --allow-plaintext to serve it"
                " unencrypted and unauthenticated"
            )
        print(
            f"privacy-partition: warning: serving {args.host} in plaintext, with no"
            " authentication: anyone who can reach the port can use the upstream and read"
            " the traffic",
            file=sys.stderr,
        )
    from privacy_partition.cloud._recipients import load_key_files

    recipients = [r for path in args.recipient_keys or () for r in load_key_files(path)]
    for spec in args.recipient or ([] if recipients else ["booking"]):
        name, _, key_file = spec.partition("=")
        recipients.append(
            HostedRecipient.from_pem_file(name, key_file)
            if key_file
            else HostedRecipient.generate(name)
        )
    kind, _, url = args.upstream.partition(":")
    if args.api_key_env and kind != "openai":
        raise ConfigurationError("--api-key-env goes with --upstream openai:URL")
    upstream: Upstream
    if kind == "echo":
        if args.model:
            raise ConfigurationError("--model goes with --upstream onnx or openai:URL")
        upstream, serving = EchoUpstream(), "echo"
    elif kind == "onnx":
        from privacy_partition.local import smollm2_folder

        onnx = OnnxUpstream(Path(args.model) if args.model else smollm2_folder(args.models))
        upstream, serving = onnx, f"onnx, model {onnx.model.folder}"
    else:
        if not args.model:
            raise ConfigurationError("--upstream openai:URL needs --model NAME")
        key_env = args.api_key_env or DEFAULT_API_KEY_ENV
        if not os.environ.get(key_env):
            print(f"privacy-partition: {key_env} is not set: no API key is sent", file=sys.stderr)
        openai = OpenAIUpstream(url, args.model, api_key_env=key_env)
        upstream, serving = openai, f"openai {openai.base_url}, model {openai.model}"

    screen = None
    if args.screen is not None:
        from privacy_partition.cloud import PolicyScreen

        screen = PolicyScreen.from_policy(args.screen)
        print(
            f"privacy-partition: screening turns for raw values of"
            f" {len(screen.entity_types)} types of policy {screen.policy.name}",
            file=sys.stderr,
        )

    async def run() -> None:
        server = GatewayServer(upstream, recipients, tls=tls, screen=screen)
        port = await server.start(f"{args.host}:{args.port}")
        print(f"gateway serving on {args.host}:{port} (upstream {serving})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(run())
    return EXIT_OK


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def _keys_generate(args: argparse.Namespace) -> int:
    from privacy_partition.cloud._recipients import add_key_to_file

    key_id = add_key_to_file(args.out, args.recipient)
    print(f"recipient {args.recipient}: new current key {key_id} in {args.out}")
    return EXIT_OK


def _read_file(option: str, path: Path) -> bytes:
    """The bytes of a file named on the command line; a clear usage error if unreadable."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"{option}: cannot read {path} ({type(error).__name__})") from None


def _client(args: argparse.Namespace) -> PrivacyClient:
    from privacy_partition.client import PrivacyClient
    from privacy_partition.cloud import ClientTls, GenerationOptions

    if args.local_model is not None and not (args.local_model / "genai_config.json").is_file():
        raise ConfigurationError(f"--local-model: no onnxruntime-genai model in {args.local_model}")
    tls = None
    if args.gateway_ca is not None:
        tls = ClientTls(root_certificates=_read_file("--gateway-ca", args.gateway_ca))
    # None: the client loads the default model if `model build` built it under --models.
    return PrivacyClient.from_policy(
        args.policy,
        gateway=args.gateway,
        local_model=False if args.no_local_model else args.local_model,
        audit=args.audit,
        analyzer_config=_analyzer_config(args),
        gateway_tls=tls,
        gateway_timeout_s=args.timeout,
        options=GenerationOptions(max_tokens=args.max_tokens),
    )


def _decision_line(reply: Reply) -> str:
    decision = reply.decision
    entities = ", ".join(f"{t} x{n}" for t, n in decision.entities.items()) or "none"
    actions = ", ".join(f"{t}={'/'.join(a)}" for t, a in decision.actions.items()) or "none"
    line = f"[route: {reply.route.value} | entities: {entities} | actions: {actions}"
    if decision.fallbacks:
        line += " | fallbacks: " + ", ".join(decision.fallbacks)
    return line + "]"


def _ask(args: argparse.Namespace) -> int:
    from privacy_partition._errors import PolicyViolation

    text = _read_text(args.text)
    with _client(args) as client:
        try:
            reply = client.generate(text)
        except PolicyViolation as refused:
            if args.json:
                json.dump({"route": "block", "reasons": list(refused.reasons)}, sys.stdout)
                sys.stdout.write("\n")
            print(f"privacy-partition: refused: {'; '.join(refused.reasons)}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        json.dump(reply.as_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(reply.text + "\n")
        print(_decision_line(reply), file=sys.stderr)
    return EXIT_OK


def _upstream_gateway(args: argparse.Namespace) -> BackgroundGateway:
    """A gateway on loopback, in this process, in front of ``--upstream openai:URL``."""
    from privacy_partition.cloud import (
        DEFAULT_API_KEY_ENV,
        BackgroundGateway,
        GatewayServer,
        OpenAIUpstream,
    )

    kind, _, url = args.upstream.partition(":")
    if kind != "openai" or not url:
        raise ConfigurationError("--upstream takes openai:URL")
    if args.gateway is not None:
        raise ConfigurationError("--gateway and --upstream exclude each other")
    if not args.upstream_model:
        raise ConfigurationError("--upstream openai:URL needs --upstream-model NAME")
    key_env = args.api_key_env or DEFAULT_API_KEY_ENV
    upstream = OpenAIUpstream(url, args.upstream_model, api_key_env=key_env)
    return BackgroundGateway(GatewayServer(upstream))


def _proxy(args: argparse.Namespace) -> int:
    import contextlib
    import os

    import uvicorn

    from privacy_partition.proxy import ProxyConfig, create_app

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise ConfigurationError(f"--token-env: {args.token_env} is not set or empty")
    if token is None and not _is_loopback(args.host) and not args.allow_no_token:
        raise ConfigurationError(
            f"--host {args.host} is not a loopback address: require a token (--token-env VAR),"
            " or pass --allow-no-token to let anyone who reaches the port use it"
        )
    if args.local_model_name is not None:
        local_name = args.local_model_name
    elif args.local_model is not None:
        local_name = args.local_model.name
    else:
        local_name = "local"
    if args.max_conversations < 0 or args.conversation_idle_s <= 0:
        raise ConfigurationError("--max-conversations >= 0 and --conversation-idle-s > 0")
    config = ProxyConfig(
        cloud_models=tuple(args.cloud_model or ["cloud"]),
        local_model=local_name,
        token=token,
        max_conversations=args.max_conversations,
        conversation_idle_s=args.conversation_idle_s,
    )
    with contextlib.ExitStack() as stack:
        if args.upstream is not None:
            args.gateway = stack.enter_context(_upstream_gateway(args)).target
        client = stack.enter_context(_client(args))
        app = create_app(client, config)
        print(
            f"privacy-partition: OpenAI-compatible endpoint on http://{args.host}:{args.port}/v1"
            f" (policy {client.policy.name}, gateway {'yes' if client.has_gateway else 'no'},"
            f" local model {'yes' if client.has_local_model else 'no'})",
            file=sys.stderr,
            flush=True,
        )
        # No access log: request lines are fine, but an app may put values in a query string.
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return EXIT_OK


def _chat(args: argparse.Namespace) -> int:
    from privacy_partition._errors import PolicyViolation

    interactive = sys.stdin.isatty()
    refused = 0
    with _client(args) as client:
        session = client.session(system=args.system)
        while True:
            if interactive:
                print("you> ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line or line.strip() in {"/exit", "/quit"}:
                break
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                with session.stream(text) as pieces:
                    for piece in pieces:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
                    reply = pieces.reply
            except PolicyViolation as error:
                refused += 1
                print(f"[refused: {'; '.join(error.reasons)}]", flush=True)
                continue
            assert reply is not None
            sys.stdout.write("\n")
            print(_decision_line(reply), flush=True)
    return EXIT_FAILED if refused else EXIT_OK


def _audit_verify(args: argparse.Namespace) -> int:
    from privacy_partition.audit import verify

    try:
        result = verify(args.file, head=args.head)
    except OSError as error:
        raise ConfigurationError(f"cannot read {args.file} ({type(error).__name__})") from None
    print(f"{args.file}: {result}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _head(value: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError("expected 64 lower-case hex digits (a SHA-256)")
    return value


def _add_request_flags(parser: argparse.ArgumentParser) -> None:
    from privacy_partition._defaults import DEFAULT_NER_MODEL, DEFAULT_TIMEOUT_S

    _add_policy_flag(parser)
    parser.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        help="the gateway; loopback in plaintext, any other host over TLS. Without it, "
        "cloud-bound requests follow the policy's fallback.cloud_unavailable",
    )
    parser.add_argument(
        "--gateway-ca", type=Path, metavar="PEM", help="CA certificates to trust for the gateway"
    )
    local = parser.add_mutually_exclusive_group()
    local.add_argument(
        "--local-model",
        type=Path,
        metavar="DIR",
        help="an onnxruntime-genai model folder that answers on the device (default: the "
        "default local model, when `privacy-partition model build` has built it under "
        "--models; when it has not, local requests follow the policy's "
        "fallback.local_unavailable)",
    )
    local.add_argument(
        "--no-local-model",
        action="store_true",
        help="answer nothing on the device, not even with the default local model: local "
        "requests follow the policy's fallback.local_unavailable",
    )
    parser.add_argument(
        "--audit", type=Path, metavar="FILE", help="append one audit event per request to FILE"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=0, help="the most tokens an answer may have (0: default)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per gateway call (default {DEFAULT_TIMEOUT_S:g})",
    )
    _add_ner_flag(parser, DEFAULT_NER_MODEL)


def _add_policy_flag(parser: argparse.ArgumentParser) -> None:
    from privacy_partition._defaults import shipped_policies

    parser.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="a policy file, or the name of a shipped policy ("
        + ", ".join(shipped_policies())
        + "); a file that exists wins over a name",
    )


def _add_ner_flag(parser: argparse.ArgumentParser, default: bool) -> None:
    parser.add_argument(
        "--ner-model",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="also run the local ONNX NER model (Rampart)",
    )


def _parser() -> argparse.ArgumentParser:
    from privacy_partition import __version__
    from privacy_partition._defaults import DEFAULT_NER_MODEL, DEFAULT_SPACY_PIPELINE

    parser = argparse.ArgumentParser(
        prog="privacy-partition",
        description="Keep personal data on the device; send general knowledge to the cloud.",
        epilog="Exit status: 0 success, 1 failure or refusal, 2 bad usage or configuration.",
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
        '{"id", "route", "cloud_text", "entities", "reasons"} per line, in order. A prompt whose '
        "detection or transformation fails is reported as route block. A malformed line (not "
        "UTF-8, not JSON, not an object, no id or text, text not a string) gets an error row "
        '{"id": its id or null, "line": N, "error": "KIND: what was wrong"} that never quotes '
        "the line, and the run goes on; the exit status is then 1.",
    )
    _add_policy_flag(sanitize)
    sanitize.add_argument("--jsonl", action="store_true", required=True, help="JSONL in and out")
    sanitize.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first malformed line: the rows before it are written, the line is "
        "named on standard error, exit status 2",
    )
    _add_ner_flag(sanitize, DEFAULT_NER_MODEL)
    sanitize.set_defaults(run=_sanitize)

    ask = commands.add_parser(
        "ask",
        help="answer one prompt where the policy allows and show the decision",
        description="Detects personal data in TEXT (or standard input with '-'), lets the "
        "policy decide, and answers: through the gateway with values replaced (the answer is "
        "restored here), with the local model, or not at all. The answer goes to standard "
        "output, the decision (route, entity types, actions, fallbacks; never values) to "
        "standard error; --json prints both as one JSON object.",
        epilog="Exit status: 0 answered, 1 refused by the policy or failed, "
        "2 bad usage or configuration.",
    )
    ask.add_argument("text", metavar="TEXT", help="the prompt, or '-' to read standard input")
    _add_request_flags(ask)
    ask.add_argument(
        "--json", action="store_true", help="print the answer, route, decision and timings as JSON"
    )
    ask.set_defaults(run=_ask)

    proxy = commands.add_parser(
        "proxy",
        help="an OpenAI-compatible HTTP endpoint: apps change base_url and nothing else",
        description="Serves POST /v1/chat/completions (plain and streamed), GET /v1/models, "
        "/healthz and /readyz on HOST:PORT. Each request is detected, decided and answered "
        "the way 'ask' answers it: on the local model, or through the gateway with values "
        "replaced and restored here, or refused with an OpenAI-style error (403) naming "
        "entity types and rules, never values. The header x-privacy-partition-route says "
        "where an answer came from.",
        epilog="Exit status: 0 stopped, 2 bad usage or configuration.",
    )
    _add_request_flags(proxy)
    proxy.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=8787, help="port (default: 8787)", metavar="N")
    proxy.add_argument(
        "--cloud-model",
        action="append",
        metavar="NAME",
        help="a model name /v1/models lists for the cloud side (repeatable; default: cloud)",
    )
    proxy.add_argument(
        "--local-model-name",
        metavar="NAME",
        help="the name answers from the device carry (default: the --local-model folder's "
        "name, else 'local')",
    )
    proxy.add_argument(
        "--token-env",
        metavar="VAR",
        help="require 'Authorization: Bearer <token>', the token read from this variable",
    )
    proxy.add_argument(
        "--allow-no-token",
        action="store_true",
        help="serve a non-loopback --host without a token",
    )
    proxy.add_argument(
        "--upstream",
        metavar="openai:URL",
        help="send cloud requests to an OpenAI-compatible endpoint through a gateway this "
        "process runs on loopback (instead of --gateway)",
    )
    proxy.add_argument(
        "--upstream-model", metavar="NAME", help="the model --upstream serves (required with it)"
    )
    proxy.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="the variable holding the upstream's API key (default: OPENAI_API_KEY); sent "
        "only upstream, never logged",
    )
    proxy.add_argument(
        "--max-conversations",
        type=int,
        default=1024,
        metavar="N",
        help="conversations remembered in memory, for stable replacements across turns "
        "(default: 1024; 0: every request on its own)",
    )
    proxy.add_argument(
        "--conversation-idle-s",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="how long a conversation is remembered after its last turn (default: 1800)",
    )
    proxy.set_defaults(run=_proxy)

    chat = commands.add_parser(
        "chat",
        help="a conversation: one line of standard input per turn, answers streamed",
        description="Reads one user turn per line of standard input (a terminal or a pipe) "
        "until end of input or /exit, streams each answer to standard output and prints "
        "the turn's decision after it. Values keep one handle for the whole conversation; "
        "the history stays here as written and reaches the gateway only transformed.",
        epilog="Exit status: 0 every turn answered, 1 a turn was refused or a request "
        "failed, 2 bad usage or configuration.",
    )
    _add_request_flags(chat)
    chat.add_argument("--system", metavar="TEXT", help="a system prompt for the conversation")
    chat.set_defaults(run=_chat)

    audit = commands.add_parser("audit", help="check an audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="check FILE's hash chain; name the first changed, removed, inserted or moved line",
        description="Checks every line of the audit log FILE against the one before it, "
        "and its end against FILE.head (the event count and last hash the writer keeps), "
        "which catches lines cut off the end and an emptied file. With --head (the hash of "
        "the last line, kept where the log's writer cannot change it) the end is checked "
        "against that instead, which also catches a chain rewritten as a whole.",
        epilog="Exit status: 0 intact, 1 broken, 2 bad usage or an unreadable file.",
    )
    verify.add_argument("file", metavar="FILE", type=Path)
    verify.add_argument("--head", type=_head, help="the expected SHA-256 of the last line")
    verify.set_defaults(run=_audit_verify)

    serve = commands.add_parser(
        "serve",
        help="run the reference gRPC gateway in front of an upstream model",
        description="Runs the reference gateway until SIGINT or SIGTERM, then drains "
        "in-flight calls. Without TLS it listens in plaintext, which it does on a loopback "
        "address only unless --allow-plaintext says otherwise. "
        "Upstreams: echo (answers with the prompt, for tests and leak audits), onnx (a local "
        "onnxruntime-genai model in this process), openai:URL (an OpenAI-compatible API root, "
        "e.g. openai:http://127.0.0.1:8000/v1 for vLLM).",
    )
    serve.add_argument(
        "--upstream",
        type=_upstream_spec,
        default="echo",
        metavar="echo|onnx|openai:URL",
        help="the upstream model (default: echo)",
    )
    serve.add_argument(
        "--model",
        metavar="NAME",
        help="onnx: a model folder (default: the SmolLM2 build); openai: the model name",
    )
    serve.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="openai: the environment variable holding the API key (default: OPENAI_API_KEY)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain")
    serve.add_argument("--tls-key", type=Path, help="PEM private key")
    serve.add_argument("--client-ca", type=Path, help="PEM CA for client certificates (mTLS)")
    serve.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="serve a non-loopback --host without TLS (refused otherwise; warns)",
    )
    serve.add_argument(
        "--recipient",
        action="append",
        metavar="NAME[=KEY.pem]",
        help="a hosted recipient; a fresh key when no file is given (default: booking)",
    )
    serve.add_argument(
        "--recipient-keys",
        action="append",
        type=Path,
        metavar="PATH",
        help="a recipient key file or a folder of them (keys generate): keys that outlive restarts",
    )
    serve.add_argument(
        "--screen",
        metavar="POLICY",
        help="refuse (PERMISSION_DENIED) turns that carry a raw value of a type POLICY never "
        "sends as written (a file or a shipped policy's name); types it pseudonymizes or "
        "keeps are not screened",
    )
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="make the keys of hosted recipients")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = keys_commands.add_parser(
        "generate",
        help="add a fresh current key to a recipient key file (mode 0600), made if absent",
    )
    generate.add_argument("--out", type=Path, required=True, metavar="PATH", help="the key file")
    generate.add_argument(
        "--recipient", default="booking", metavar="NAME", help="the recipient (default: booking)"
    )
    generate.set_defaults(run=_keys_generate)

    policy = commands.add_parser("policy", help="check, test or explain a policy file")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_commands.add_parser(
        "check", help="validate FILE; exit 1 naming file, line and column on an error"
    )
    check.add_argument("file", metavar="FILE", help=_POLICY_FILE_HELP)
    _add_ner_flag(check, DEFAULT_NER_MODEL)
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on a warning too (an entity type nothing produces, a rule that never fires)",
    )
    check.set_defaults(run=_policy_check)
    test = policy_commands.add_parser(
        "test", help="run FILE's embedded tests; exit 1 saying what differed"
    )
    test.add_argument("file", metavar="FILE", help=_POLICY_FILE_HELP)
    _add_ner_flag(test, DEFAULT_NER_MODEL)
    test.set_defaults(run=_policy_test)
    explain = policy_commands.add_parser(
        "explain",
        help="show the findings, the rule that fired and what each value becomes (masked)",
    )
    explain.add_argument("file", metavar="FILE", help=_POLICY_FILE_HELP)
    explain.add_argument("text", metavar="TEXT", help="the text, or '-' to read standard input")
    explain.add_argument("--lang", choices=["en", "zh"], help="force a language (default: detect)")
    _add_ner_flag(explain, DEFAULT_NER_MODEL)
    explain.set_defaults(run=_policy_explain)

    model = commands.add_parser("model", help="build or inspect the local models")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    build = model_commands.add_parser(
        "build",
        help="fetch and verify every model that is missing or damaged (idempotent)",
        description="Builds the detection models and the default local model, plus the "
        "optional local models named (or all with --all). Idempotent.",
    )
    build.add_argument("names", nargs="*", metavar="NAME", help="an optional local model")
    build.add_argument("--all", action="store_true", help="every local model of the matrix")
    build.set_defaults(run=_model_build)
    info = model_commands.add_parser(
        "info",
        help="print each model, its folder, size and state",
        description="Prints the detection models and the local model matrix as JSON: "
        "state (ready, missing, damaged), bytes, memory need, abilities, licence.",
    )
    info.add_argument(
        "--config",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a file of your own local models (models.yaml format) to list too",
    )
    info.set_defaults(run=_model_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # here, so that a reader gone away is caught below
        return code
    except (ConfigurationError, InputError) as error:
        print(f"privacy-partition: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PrivacyPartitionError as error:
        print(f"privacy-partition: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as cat does; the flush at
        # exit would raise again, so standard output now goes nowhere.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
