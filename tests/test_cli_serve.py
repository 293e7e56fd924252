"""`privacy-partition serve`: a real gateway process on loopback, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

from privacy_partition.cloud import GatewayClient


def test_serve_answers_and_drains_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "privacy_partition.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("gateway serving on 127.0.0.1:"), line
        target = line.split()[3]
        client = GatewayClient(target, insecure=True, timeout_s=10)
        try:
            assert client.generate("hello gateway").text == "hello gateway"
            assert "booking" in client.recipients()
        finally:
            client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
