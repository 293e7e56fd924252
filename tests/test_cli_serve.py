"""`privacy-partition serve`: a real gateway process on loopback, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition.cli import EXIT_USAGE, main
from privacy_partition.cloud import GatewayClient, GenerationOptions, OpenAICompatibleEcho

KEY_ENV = "PRIVACY_PARTITION_TEST_KEY"
KEY = "sk-cli-test-6b2d"


class Served:
    """A ``serve`` process on a free port, started at once; ``up()`` waits for it."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "privacy_partition.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.client: GatewayClient | None = None

    def up(self) -> tuple[str, GatewayClient]:
        """Its first line, and a client connected to it."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("gateway serving on "), line
        port = line.split()[3].rpartition(":")[2]
        self.client = GatewayClient(f"127.0.0.1:{port}", insecure=True, timeout_s=30)
        return line, self.client

    def stop(self) -> int:
        """SIGTERM it; its exit status once it has drained."""
        if self.client is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[OpenAICompatibleEcho]:
    with OpenAICompatibleEcho(api_key=KEY) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def served(endpoint: OpenAICompatibleEcho) -> Iterator[dict[str, Served]]:
    """Both processes start together: most of a start is imports, and they overlap."""
    started = {
        "echo": Served(),
        "openai": Served(
            *("--upstream", f"openai:{endpoint.base_url}", "--model", "echo-model"),
            *("--api-key-env", KEY_ENV),
            env={**os.environ, KEY_ENV: KEY},
        ),
        "all-addresses": Served("--host", "0.0.0.0", "--allow-plaintext"),  # noqa: S104
        "screened": Served("--screen", "default"),
    }
    try:
        yield started
    finally:
        for process in started.values():
            process.stop()


def test_serve_answers_and_drains_on_sigterm(served: dict[str, Served]) -> None:
    line, client = served["echo"].up()
    assert "(upstream echo)" in line
    assert client.generate("hello gateway").text == "hello gateway"
    assert "booking" in client.recipients()
    assert served["echo"].stop() == 0


def test_serve_in_front_of_an_openai_compatible_endpoint(
    served: dict[str, Served], endpoint: OpenAICompatibleEcho
) -> None:
    line, client = served["openai"].up()
    assert f"(upstream openai {endpoint.base_url}, model echo-model)" in line
    assert client.generate("through the endpoint").text == "through the endpoint"
    with client.stream("streamed through it") as chunks:
        assert "".join(c.text for c in chunks) == "streamed through it"
    assert endpoint.seen[-1]["model"] == "echo-model"
    assert served["openai"].stop() == 0
    assert KEY not in line


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "gateway.example"])  # noqa: S104
def test_a_non_loopback_host_without_tls_is_refused(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", host, "--port", "0"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--host {host} is not a loopback address" in err
    assert "--allow-plaintext" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    from privacy_partition.cli import _is_loopback

    assert _is_loopback(host) is loopback


def test_plaintext_on_every_address_needs_the_flag_and_warns(served: dict[str, Served]) -> None:
    process = served["all-addresses"]
    line, client = process.up()
    assert line.startswith("gateway serving on 0.0.0.0:")
    assert client.generate("hello from afar").text == "hello from afar"
    assert process.stop() == 0
    assert process.proc.stderr is not None
    assert "warning: serving 0.0.0.0 in plaintext, with no authentication" in (
        process.proc.stderr.read()
    )


def test_serve_screens_turns_for_raw_values_of_the_policy(served: dict[str, Served]) -> None:
    from privacy_partition.cloud import GatewayAuthError

    process = served["screened"]
    _, client = process.up()
    assert client.generate("Write to <EMAIL_ADDRESS_1> today").text.startswith("Write")
    with pytest.raises(GatewayAuthError, match="EMAIL_ADDRESS") as refused:
        client.generate("Write to jane.doe@example.org today")
    assert "jane.doe" not in str(refused.value)
    assert process.stop() == 0
    assert process.proc.stderr is not None
    assert "screening turns for raw values" in process.proc.stderr.read()


@pytest.mark.model
def test_serve_with_the_onnx_model() -> None:
    process = Served("--upstream", "onnx")
    try:
        line, client = process.up()
        assert "(upstream onnx, model " in line
        options = GenerationOptions(max_tokens=8)
        assert client.generate("What is the capital of France?", options=options).text.strip()
        with client.stream("Name three colours.", options=options) as chunks:
            received = list(chunks)
        assert "".join(c.text for c in received).strip()
        assert received[-1].usage is not None
        assert received[-1].usage.completion_tokens == 8
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--upstream", "echo", "--model", "x"],
        ["--upstream", "onnx", "--api-key-env", "KEY"],
        ["--upstream", "openai:http://127.0.0.1:9/v1"],  # no --model
        ["--upstream", "openai:ftp://127.0.0.1/v1", "--model", "m"],
    ],
)
def test_serve_refuses_bad_combinations(args: list[str]) -> None:
    assert main(["serve", "--port", "0", *args]) == 2


def test_serve_refuses_an_unknown_upstream(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--upstream", "llama"])
    assert caught.value.code == 2
    assert "echo, onnx or openai:URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--tls-cert", "missing-cert.pem", "--tls-key", "missing-key.pem"],
        ["ask", "--policy", "policies/default.yaml", "--gateway-ca", "missing-ca.pem", "hi"],
    ],
)
def test_an_unreadable_certificate_file_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot read missing-" in err
    assert "Traceback" not in err
