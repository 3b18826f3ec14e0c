"""Sending e-mail over SMTP: the settings, and one send function.

Settings are read from the environment as `PLATFORM_SMTP_<NAME>` (one relay for the whole
platform), and a service may override any of them with `<PREFIX>SMTP_<NAME>` (`IDENTITY_SMTP_HOST`):

| name | default | meaning |
|---|---|---|
| `SMTP_HOST` | empty | the relay's host name; empty: mail is off (`SmtpSettings.enabled` is False) |
| `SMTP_PORT` | 587 | the relay's port (587 submission with STARTTLS; 25 a local relay) |
| `SMTP_FROM` | `no-reply@localhost` | the sender address (`From:` and the envelope sender) |
| `SMTP_USERNAME` / `SMTP_PASSWORD` | empty | log in when both are set (only ever over TLS) |
| `SMTP_STARTTLS` | `auto` | `auto`: upgrade when offered; `required`: never send without it; `off` |
| `SMTP_CA_FILE` | empty | a PEM bundle to verify the relay with (else the system's store) |
| `SMTP_TIMEOUT_SECONDS` | 10 | connect and each command |

    settings = SmtpSettings.from_env("IDENTITY_")
    await send_mail(settings, to="head@school.example", subject="...", text="...")

The message goes out with the standard library's `smtplib` in a worker thread, so the event loop
never blocks on the relay. Failures raise `MailError`: `MailRejected` when the relay refused the
message for good (5xx, a bad address: retrying will not help), `MailUnavailable` otherwise
(connection refused, a timeout, 4xx: try again later).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

StartTls = Literal["auto", "required", "off"]


class MailError(Exception):
    """The message was not sent."""


class MailRejected(MailError):
    """The relay refused the message for good: a retry would be refused again."""


class MailUnavailable(MailError):
    """The relay could not be reached or deferred the message: try again later."""


class MailNotConfigured(MailError):
    """No SMTP host is set: mail is off."""


class SmtpSettings(BaseModel):
    """How to reach the SMTP relay. Build with `SmtpSettings.from_env(prefix)` or directly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(default="no-reply@localhost", max_length=254)
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: StartTls = "auto"
    ca_file: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("sender")
    @classmethod
    def _one_address(cls, value: str) -> str:
        parse_address(value)
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, prefix: str = "", environ: Mapping[str, str] | None = None) -> Self:
        """`<prefix>SMTP_<NAME>` where set, else `PLATFORM_SMTP_<NAME>`, else the default."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for field, name in _ENV_NAMES:
            keys = (f"{prefix}SMTP_{name}", f"PLATFORM_SMTP_{name}") if prefix else (f"PLATFORM_SMTP_{name}",)
            for key in keys:
                if key in env:
                    values[field] = env[key]
                    break
        return cls.model_validate(values)


_ENV_NAMES = (
    ("host", "HOST"),
    ("port", "PORT"),
    ("sender", "FROM"),
    ("username", "USERNAME"),
    ("password", "PASSWORD"),
    ("starttls", "STARTTLS"),
    ("ca_file", "CA_FILE"),
    ("timeout_seconds", "TIMEOUT_SECONDS"),
)


def parse_address(value: str) -> Address:
    """One plain e-mail address (`name@domain`), or ValueError. No display name, no line breaks."""
    if not value or len(value) > 254 or any(c in value for c in "\r\n<>,;\"' \t"):
        raise ValueError(f"not a plain e-mail address: {value!r}")
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or "@" in local:
        raise ValueError(f"not a plain e-mail address: {value!r}")
    return Address(username=local, domain=domain)


def build_message(
    settings: SmtpSettings,
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """The message `send_mail` sends: plain text, UTF-8, a Message-ID and a Date.

    A header value with a line break is refused (ValueError, by the email package's policy): no
    header injection through a subject."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("no recipient")
    message = EmailMessage()
    message["From"] = parse_address(settings.sender)
    message["To"] = [parse_address(r) for r in recipients]
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = settings.sender.rpartition("@")[2]
    message["Message-ID"] = message_id or make_msgid(idstring=uuid.uuid4().hex, domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message


async def send_mail(
    settings: SmtpSettings,
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
) -> str:
    """Send one plain-text message; returns its Message-ID. Raises `MailError` (see the module)."""
    if not settings.enabled:
        raise MailNotConfigured("no SMTP host is set (PLATFORM_SMTP_HOST)")
    message = build_message(
        settings, to=to, subject=subject, text=text, headers=headers, message_id=message_id
    )
    await asyncio.to_thread(_deliver, settings, message)
    return str(message["Message-ID"])


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _deliver(settings: SmtpSettings, message: EmailMessage) -> None:
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            smtp.ehlo()
            secure = False
            if settings.starttls != "off" and smtp.has_extn("starttls"):
                smtp.starttls(context=_tls_context(settings))
                smtp.ehlo()
                secure = True
            elif settings.starttls == "required":
                raise MailUnavailable(f"{settings.host} does not offer STARTTLS (SMTP_STARTTLS=required)")
            if settings.username and settings.password.get_secret_value():
                if not secure:
                    # A password never crosses the network in clear.
                    raise MailRejected("refusing to log in to the SMTP relay without TLS")
                smtp.login(settings.username, settings.password.get_secret_value())
            refused = smtp.send_message(message)
            if refused:
                raise MailRejected(f"the relay refused {len(refused)} recipient(s)")
    except MailError:
        raise
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise MailRejected(f"the relay refused the message: {type(exc).__name__}") from exc
    except smtplib.SMTPResponseException as exc:
        kind = MailRejected if 500 <= exc.smtp_code < 600 else MailUnavailable
        raise kind(f"the relay answered {exc.smtp_code}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailUnavailable(f"the relay could not be reached: {type(exc).__name__}") from exc
