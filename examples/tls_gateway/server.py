#!/usr/bin/env python3
"""A gateway that requires mutual TLS: only a client with a certificate from your CA gets in.

At start it makes throwaway certificates (``LoopbackPki``: a CA, the
gateway's certificate for ``localhost``/127.0.0.1 and one client
certificate, valid for an hour) and writes them as PEM files, then loads
them back from those files as a real deployment would. To use your own
certificates, put them in the same files and drop ``write_certificates``.
The upstream is ``echo`` (it answers with the prompt it received), so this
runs offline and needs no model.

    python examples/tls_gateway/server.py [--port N] [--certs DIR]
    python examples/tls_gateway/client.py --gateway 127.0.0.1:N --certs DIR

It serves until Ctrl-C (SIGINT) or SIGTERM. Without ``--certs`` the files go
to a temporary folder, removed on exit. The CLI does the same with your files:
``privacy-partition serve --tls-cert server.pem --tls-key server.key --client-ca ca.pem``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
from pathlib import Path

from privacy_partition.cloud import EchoUpstream, GatewayServer, LoopbackPki, ServerTls

CLIENT = Path(__file__).resolve().with_name("client.py")


def write_certificates(folder: Path) -> None:
    """Fresh loopback certificates as PEM files in ``folder``; keys readable by the owner only."""
    pki = LoopbackPki.generate()
    files = {
        "ca.pem": (pki.ca, 0o644),
        "server.pem": (pki.server_chain, 0o644),
        "server.key": (pki.server_key, 0o600),
        "client.pem": (pki.client_chain, 0o644),
        "client.key": (pki.client_key, 0o600),
    }
    for name, (data, mode) in files.items():
        path = folder / name
        path.unlink(missing_ok=True)  # a new file gets ``mode``; an old one would keep its own
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
            out.write(data)


def server_tls(folder: Path) -> ServerTls:
    """The gateway's certificate and key, and the CA its clients' certificates must chain to."""
    return ServerTls(
        certificate_chain=(folder / "server.pem").read_bytes(),
        private_key=(folder / "server.key").read_bytes(),
        client_ca=(folder / "ca.pem").read_bytes(),  # set: a client certificate is required
    )


async def serve(port: int, certs: Path) -> None:
    server = GatewayServer(EchoUpstream(), tls=server_tls(certs))
    bound = await server.start(f"127.0.0.1:{port}")
    print(f"gateway listening on 127.0.0.1:{bound} (mTLS)", flush=True)
    print(f"  try: python {CLIENT} --gateway 127.0.0.1:{bound} --certs {certs}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()  # finishes the calls in flight, then closes
    print("gateway stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--certs", type=Path, help="folder for the PEM files (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tls-gateway-") as scratch:
        certs = args.certs or Path(scratch)
        certs.mkdir(parents=True, exist_ok=True)
        write_certificates(certs)
        asyncio.run(serve(args.port, certs))


if __name__ == "__main__":
    main()
