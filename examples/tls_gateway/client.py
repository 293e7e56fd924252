#!/usr/bin/env python3
"""A PrivacyClient that reaches the gateway over mutual TLS, and a client the gateway turns away.

The client trusts only the CA in ``ca.pem`` and proves itself with
``client.pem``/``client.key``: the files ``server.py`` wrote. A second client
without a certificate is refused during the TLS handshake, before any
request is read.

    python examples/tls_gateway/client.py --gateway 127.0.0.1:N --certs DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

from privacy_partition import PolicyViolation, PrivacyClient
from privacy_partition.cloud import ClientTls, GatewayClient, GatewayError

POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
PROMPT = "In one sentence: why does a gateway ask its clients for a certificate?"


def client_tls(folder: Path, *, certificate: bool = True) -> ClientTls:
    """Trust the CA only; with ``certificate``, present the client's certificate (mTLS)."""
    return ClientTls(
        root_certificates=(folder / "ca.pem").read_bytes(),
        certificate_chain=(folder / "client.pem").read_bytes() if certificate else None,
        private_key=(folder / "client.key").read_bytes() if certificate else None,
        server_name="localhost",  # the name in the gateway's certificate
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True, metavar="HOST:PORT")
    parser.add_argument("--certs", required=True, type=Path, help="the folder server.py wrote")
    args = parser.parse_args()

    # gateway_tls makes even a loopback address use TLS.
    with PrivacyClient.from_policy(
        POLICY, gateway=args.gateway, gateway_tls=client_tls(args.certs), gateway_timeout_s=10
    ) as client:
        try:
            reply = client.generate(PROMPT)
        except PolicyViolation as refused:
            # Gateway unreachable: the policy falls back to the device, which has no model here.
            print(f"with a client certificate: not answered ({'; '.join(refused.reasons)})")
            return 1
    print(f"with a client certificate: route {reply.route.value}")
    print(f"  the gateway (echo) answered: {reply.text}")

    # The same CA, no certificate: the handshake fails, nothing reaches the gateway's methods.
    anonymous = GatewayClient(
        args.gateway, tls=client_tls(args.certs, certificate=False), timeout_s=5
    )
    with anonymous:
        try:
            anonymous.recipients()
        except GatewayError as refused:
            print(f"without a client certificate: refused ({type(refused).__name__})")
            return 0
    print("without a client certificate: served, so the gateway does not require mTLS")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
