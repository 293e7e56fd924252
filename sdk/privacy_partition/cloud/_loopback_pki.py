"""``LoopbackPki``: throwaway certificates for TLS and mTLS on loopback, made in memory.

A test double, like ``EchoUpstream``: tests, examples and benchmarks run the
gateway over real TLS without ``openssl`` or key files on disk. The keys
live in memory and the certificates expire within the hour; never use them
for anything but loopback.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from privacy_partition.cloud._client import ClientTls
from privacy_partition.cloud._server import ServerTls

__all__ = ["LoopbackPki"]

_SERVER_NAME = "localhost"


@dataclass(frozen=True, slots=True)
class LoopbackPki:
    """A CA, a server certificate for ``localhost`` and 127.0.0.1, a client certificate (PEM)."""

    ca: bytes
    server_chain: bytes
    server_key: bytes = field(repr=False)
    client_chain: bytes
    client_key: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> LoopbackPki:
        """Fresh P-256 keys and certificates, valid for one hour."""
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("privacy-partition loopback CA")
        ca_cert = _sign(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _sign(_name("gateway"), ca_name, server_key.public_key(), ca_key, server=True)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client_cert = _sign(_name("device"), ca_name, client_key.public_key(), ca_key)
        pem = serialization.Encoding.PEM
        return cls(
            ca=ca_cert.public_bytes(pem),
            server_chain=server_cert.public_bytes(pem),
            server_key=_pem_key(server_key),
            client_chain=client_cert.public_bytes(pem),
            client_key=_pem_key(client_key),
        )

    def server_tls(self, *, mtls: bool = False) -> ServerTls:
        """The gateway's side; with ``mtls`` it requires a client certificate from this CA."""
        return ServerTls(self.server_chain, self.server_key, self.ca if mtls else None)

    def client_tls(self, *, mtls: bool = False) -> ClientTls:
        """The client's side, trusting this CA only; with ``mtls`` it presents its certificate."""
        if mtls:
            return ClientTls(self.ca, self.client_chain, self.client_key, _SERVER_NAME)
        return ClientTls(self.ca, server_name=_SERVER_NAME)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _sign(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName(_SERVER_NAME),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())
