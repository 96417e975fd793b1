"""A real SMTP server (aiosmtpd) on the test's event loop that keeps what it received.

It speaks STARTTLS or implicit TLS with a certificate made for the test by a throwaway CA, requires AUTH
with one account and password, and can be told to refuse every message.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACCOUNT = "mailer@example.com"
PASSWORD = "smtp-app-password"


def make_certificate(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``host`` (an IP address) signed by it: (ca, cert, key) PEM paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oneapi test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str


@dataclass
class FakeSMTP:
    """Start with ``await FakeSMTP(...).start(directory)``; ``messages`` fills as mail arrives."""

    host: str = "127.0.0.1"
    port: int = 0
    implicit_tls: bool = False
    refuse: bool = False
    messages: list[Received] = field(default_factory=list)
    ca_file: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.base_events.Server | None = None

    async def start(self, directory: Path) -> FakeSMTP:
        ca, cert, key = make_certificate(directory, self.host)
        self.ca_file = str(ca)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def protocol() -> SMTP:
            with warnings.catch_warnings():  # AUTH without STARTTLS is fine here: the socket is already TLS
                warnings.simplefilter("ignore", UserWarning)
                return SMTP(self, hostname="fake-smtp", tls_context=None if self.implicit_tls else context,
                            # with implicit TLS aiosmtpd does not know the socket is encrypted
                            require_starttls=not self.implicit_tls, auth_required=True,
                            auth_require_tls=not self.implicit_tls, authenticator=self._authenticate)

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self.host, self.port, ssl=context if self.implicit_tls else None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def options(self, **extra: str) -> dict[str, str]:
        """The SMTP* options that point the gateway here with the right credentials."""
        return {"SMTPServer": self.host, "SMTPPort": str(self.port), "SMTPAccount": ACCOUNT,
                "SMTPToken": PASSWORD, "SMTPFrom": "noreply@example.com", **extra}

    @staticmethod
    def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == ACCOUNT.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=data.login.decode() if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 5.7.1 message refused by policy"
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,  # type: ignore[arg-type]
                                      server.transport.get_extra_info("ssl_object") is not None,
                                      str(session.auth_data or "")))
        self.arrived.set()
        return "250 OK"

    def last_html(self) -> str:
        body = self.messages[-1].message.get_body(("html",))
        assert body is not None
        return body.get_content()
