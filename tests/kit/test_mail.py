"""servicekit.mail against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS, login."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servicekit.mail import (
    MailNotConfigured,
    MailRejected,
    MailUnavailable,
    SmtpSettings,
    send_mail,
)
from servicekit.testing import free_port
from tests.mailbox import Inbox, start_smtp


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1, and the PEM a client trusts it by."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "smtp-cert.pem"
    key_pem = tmp_path / "smtp-key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_pem, key_pem)
    return context, cert_pem


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = start_smtp(handler)
    yield handler, controller.port
    controller.stop()


async def test_a_message_arrives_as_sent(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="alerts@school.example")
    message_id = await send_mail(
        settings,
        to=["dsl@school.example", "head@school.example"],
        subject="Something to open",
        text="Open it.\n",
    )
    [message] = handler.messages
    assert message["Message-ID"] == message_id
    assert message["From"] == "alerts@school.example"
    assert message["Subject"] == "Something to open"
    assert message.get_content().replace("\r\n", "\n") == "Open it.\n"
    assert handler.envelopes == [
        ("alerts@school.example", ["dsl@school.example", "head@school.example"], False)
    ]


async def test_starttls_is_used_when_the_server_offers_it(tmp_path: Path) -> None:
    context, cert = self_signed(tmp_path)
    handler = Inbox()
    controller = start_smtp(handler, tls_context=context)
    try:
        settings = SmtpSettings(host="127.0.0.1", port=controller.port, ca_file=str(cert))
        await send_mail(settings, to="dsl@school.example", subject="s", text="t")
    finally:
        controller.stop()
    assert handler.envelopes[0][2] is True  # the message came over TLS


async def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    context, _ = self_signed(tmp_path)
    handler = Inbox()
    controller = start_smtp(handler, tls_context=context)
    try:
        settings = SmtpSettings(host="127.0.0.1", port=controller.port)  # the system store only
        with pytest.raises(MailUnavailable):
            await send_mail(settings, to="dsl@school.example", subject="s", text="t")
    finally:
        controller.stop()
    assert handler.messages == []


async def test_required_starttls_refuses_a_server_without_it(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    settings = SmtpSettings(host="127.0.0.1", port=port, starttls="required")
    with pytest.raises(MailUnavailable):
        await send_mail(settings, to="dsl@school.example", subject="s", text="t")
    assert handler.messages == []


async def test_login_over_starttls_and_never_in_clear(tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.password == b"relay-secret", handled=False)

    context, cert = self_signed(tmp_path)
    handler = Inbox()
    controller = start_smtp(
        handler,
        tls_context=context,
        authenticator=authenticator,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],  # PLAIN is enough to show the login
    )
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=controller.port,
            ca_file=str(cert),
            username="alerts",
            password="relay-secret",
        )
        await send_mail(settings, to="dsl@school.example", subject="s", text="t")
        wrong = SmtpSettings.model_validate({**settings.model_dump(), "password": "wrong"})
        with pytest.raises(MailRejected):
            await send_mail(wrong, to="dsl@school.example", subject="s", text="t")
    finally:
        controller.stop()
    assert seen[0] == (b"alerts", b"relay-secret")
    assert len(handler.messages) == 1

    # A server without TLS never sees the password.
    plain_handler, plain_port = inbox
    clear = SmtpSettings(host="127.0.0.1", port=plain_port, username="alerts", password="relay-secret")
    with pytest.raises(MailRejected):
        await send_mail(clear, to="dsl@school.example", subject="s", text="t")
    assert plain_handler.messages == []


async def test_a_refused_recipient_is_rejected_for_good(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    settings = SmtpSettings(host="127.0.0.1", port=port)
    with pytest.raises(MailRejected):
        await send_mail(settings, to="nobody@refused.example", subject="s", text="t")
    assert handler.messages == []


async def test_no_server_is_unavailable_and_no_host_is_off() -> None:
    with pytest.raises(MailUnavailable):
        await send_mail(
            SmtpSettings(host="127.0.0.1", port=free_port(), timeout_seconds=2),
            to="a@b.example",
            subject="s",
            text="t",
        )
    with pytest.raises(MailNotConfigured):
        await send_mail(SmtpSettings(), to="a@b.example", subject="s", text="t")


async def test_header_injection_is_refused(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    settings = SmtpSettings(host="127.0.0.1", port=port)
    with pytest.raises(ValueError):
        await send_mail(settings, to="a@b.example", subject="hi\r\nBcc: everyone@evil.example", text="t")
    with pytest.raises(ValueError):
        await send_mail(settings, to="a@b.example, everyone@evil.example", subject="s", text="t")
    assert handler.messages == []


def test_settings_from_the_environment() -> None:
    environ = {
        "PLATFORM_SMTP_HOST": "relay.example",
        "PLATFORM_SMTP_PORT": "25",
        "PLATFORM_SMTP_FROM": "platform@school.example",
        "INCIDENTS_SMTP_FROM": "incidents@school.example",
        "INCIDENTS_SMTP_STARTTLS": "required",
    }
    platform = SmtpSettings.from_env(environ=environ)
    assert (platform.host, platform.port, platform.sender, platform.starttls) == (
        "relay.example",
        25,
        "platform@school.example",
        "auto",
    )
    incidents = SmtpSettings.from_env("INCIDENTS_", environ=environ)
    assert (incidents.host, incidents.sender, incidents.starttls) == (
        "relay.example",
        "incidents@school.example",
        "required",
    )
    assert not SmtpSettings.from_env(environ={}).enabled
    assert "relay-secret" not in repr(SmtpSettings(host="h", password="relay-secret"))
    with pytest.raises(ValueError):
        SmtpSettings.from_env(environ={"PLATFORM_SMTP_STARTTLS": "sometimes"})
