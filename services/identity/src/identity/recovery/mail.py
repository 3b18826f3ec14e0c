"""The reset code's e-mail: the code and the page's address, nothing else (no name, no child, no
school), sent over SMTP (servicekit.mail) by the outbox worker (servicekit.outbox, topic
`reset_code.email`), so the page answers without waiting for the relay (its timing tells nothing of
whether an account matched) and a code the page answered for is e-mailed even if the process stops
just after answering, or the relay is down for a while.

The outbox message carries the code's id, nothing else: the code is drawn when the e-mail is sent
(`recovery.service.code_for_mail`, committed before the send), so no code is ever stored in clear.
A relay that is down is a failed attempt, retried with back-off until the code is out of date (a
code no longer usable is not sent); a relay that refuses the message (5xx, a bad address) is a
dead letter. The Message-ID is the same at every attempt, and each attempt's code replaces the
previous one, so if a resend ever follows a crash between the send and its record, only the latest
e-mail's code works.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from identity.paths import RESET_CODE_PAGE
from identity.recovery.service import EmailedCode, code_for_mail
from servicekit.clock import Clock
from servicekit.mail import MailError, MailUnavailable, SmtpSettings, send_mail
from servicekit.outbox import GiveUp, Handler, Message, Retry
from servicekit.urls import public_link

log = logging.getLogger("identity.recovery.mail")

SUBJECT = "Your password reset code"


def reset_text(code: EmailedCode, page_url: str) -> str:
    when = code.expires_at.strftime("%H:%M UTC on %d %B %Y")
    return (
        "Someone asked to reset the password of your school account.\n\n"
        f"Your code: {code.code}\n\n"
        f"Enter it at {page_url} to choose a new password. It works once, until {when}.\n\n"
        "If you did not ask for this, ignore this e-mail: your password stays as it is.\n"
    )


@dataclass
class ResetCodeMailer:
    """The outbox handler of topic `reset_code.email`: one message per code asked for on the page.

    The relay's settings are read at each attempt (`smtp()`), so a changed setting holds at the next."""

    sessionmaker: Callable[[], AsyncSession]
    smtp: Callable[[], SmtpSettings]
    page_url: Callable[[], str]
    clock: Callable[[], Clock]

    async def __call__(self, message: Message) -> None:
        smtp = self.smtp()
        if not smtp.enabled:
            raise GiveUp("mail is off (no SMTP host is set)")
        code_id = uuid.UUID(str(message.payload["code_id"]))
        async with self.sessionmaker() as session:
            code = await code_for_mail(session, code_id, now=self.clock().now())
            if code is None:
                return  # used, replaced or out of date: nothing to send
            # The code works before the e-mail that carries it leaves.
            await session.commit()
        domain = smtp.sender.rpartition("@")[2]
        try:
            await send_mail(
                smtp,
                to=code.email,
                subject=SUBJECT,
                text=reset_text(code, self.page_url()),
                message_id=f"<reset-{message.id}@{domain}>",
            )
        except MailUnavailable as exc:
            raise Retry(type(exc).__name__) from exc
        except (MailError, ValueError) as exc:
            log.warning("reset code e-mail refused: %s", type(exc).__name__)
            raise GiveUp(type(exc).__name__) from exc


def reset_code_mailer(app: FastAPI) -> Handler:
    """The handler, reading the app's state when it runs (tests swap the sessionmaker and relay)."""
    return ResetCodeMailer(
        sessionmaker=lambda: app.state.sessionmaker(),
        smtp=lambda: app.state.smtp,
        page_url=lambda: public_link(app.state.settings.public_base_url, RESET_CODE_PAGE),
        clock=lambda: app.state.clock,
    )
