"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it is sent, for the mail and alert tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from servicekit.mail import SmtpSettings
from servicekit.testing import free_port


class Inbox:
    """An aiosmtpd handler that keeps what it accepts, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str], bool]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.raw.append(raw)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), session.ssl is not None))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages whose envelope named `address`."""
        return [m for m, (_, rcpts, _) in zip(self.messages, self.envelopes, strict=True) if address in rcpts]

    def recipients(self) -> list[str]:
        return sorted(r for _, rcpts, _ in self.envelopes for r in rcpts)


def start_smtp(handler: Inbox, **smtp: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=5, **smtp)
    controller.start()
    return controller


@dataclass
class Mailbox:
    inbox: Inbox
    port: int
    settings: SmtpSettings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = SmtpSettings(host="127.0.0.1", port=self.port, sender="alerts@platform.example")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    handler = Inbox()
    controller = start_smtp(handler)
    yield Mailbox(handler, controller.port)
    controller.stop()


def staff_address(role: str) -> str:
    return f"{role.replace('_', '.')}@school.example"


def point_alerts_at(app: Any, staff: dict[str, Any], mailbox: Mailbox) -> Any:
    """Every member of `staff` (role -> person id) has an address; the app's alert sender e-mails
    the loopback server. Returns the contact directory (tests change preferences on it)."""
    from servicekit.alerts import Contact, StaticContactDirectory

    directory = StaticContactDirectory(
        Contact(person_id=person_id, email=staff_address(role)) for role, person_id in staff.items()
    )
    app.state.alert_sender.smtp = mailbox.settings
    app.state.alert_sender.directory = directory
    return directory


async def deliver(app: Any) -> int:
    """Run the app's outbox worker until nothing is due, one message at a time (a test's sessions
    share one rolled-back connection, which concurrent deliveries would interleave)."""
    app.state.outbox.batch_size = 1
    return int(await app.state.outbox.run_until_idle())


def assert_says_nothing(inbox: Inbox, *secrets: str) -> None:
    """No e-mail holds any of `secrets` (a name, a text, a category), whatever the case."""
    assert inbox.raw, "no e-mail to look at"
    for raw in inbox.raw:
        text = raw.decode("utf-8", "replace").lower()
        for secret in secrets:
            assert secret.lower() not in text, f"{secret!r} is in an alert e-mail"
