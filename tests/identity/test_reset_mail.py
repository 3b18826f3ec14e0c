"""A reset code the page answered for is e-mailed at least once, through the outbox, to a real SMTP
server on 127.0.0.1 (aiosmtpd): across a restart between the answer and the send (and a worker
killed mid-send), and when the relay is down at first. The outbox never holds the code in clear; a
code replaced by a newer one, or out of date before the relay is back, is not sent. No sleeps: the
clock moves.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import select

from identity.main import create_app
from identity.recovery.models import PasswordResetCode
from identity.recovery.service import RESET_MAIL_TOPIC
from servicekit import outbox
from servicekit.mail import SmtpSettings
from servicekit.models import OutboxMessage
from servicekit.testing import free_port
from tests.identity.parents_support import make_family
from tests.identity.signin_support import client_from, sign_in
from tests.identity.test_parent_pages import (  # noqa: F401 - the inbox fixture
    NEW_PASSWORD,
    _parent,
    _request_reset,
    _use_code,
    deliver,
    inbox,
)
from tests.kit.test_mail import Inbox


def code_in(message: object) -> str:
    found = re.search(r"Your code: ([A-Z0-9-]+)", message.get_content())  # type: ignore[attr-defined]
    assert found, "no code in the e-mail"
    return found.group(1)


async def counts(app: FastAPI) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return await outbox.counts(session, [RESET_MAIL_TOPIC])


def restarted(app: FastAPI, smtp: SmtpSettings) -> FastAPI:
    """A new identity process on the same database (and clock): the first one's memory is gone."""
    again = create_app(app.state.settings, clock=app.state.clock)
    again.state.sessionmaker = app.state.sessionmaker
    again.state.smtp = smtp
    return again


async def test_the_code_is_committed_with_its_email_and_the_outbox_never_holds_it(
    api: httpx.AsyncClient,
    idapp: FastAPI,
    inbox: tuple[Inbox, SmtpSettings],  # noqa: F811
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    parent = await _parent(idapp, await make_family(idapp))
    assert (await _request_reset(api, parent.username)).status_code == 200
    async with idapp.state.sessionmaker() as session:
        (message,) = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == RESET_MAIL_TOPIC)
        )
        (code_row,) = await session.scalars(
            select(PasswordResetCode).where(PasswordResetCode.account_id == parent.id)
        )
    # The message names the code's row, nothing else: no code, no address.
    assert message.payload == {"code_id": str(code_row.id)} and message.id == code_row.id
    assert await deliver(idapp) == 1
    (mail,) = handler.messages
    assert mail["Message-ID"].startswith(f"<reset-{message.id}@")
    assert code_in(mail) not in str(message.payload)
    # The digest stored at the answer was of a code nobody saw; the e-mailed one replaced it.
    async with idapp.state.sessionmaker() as session:
        stored = await session.get(PasswordResetCode, code_row.id)
    assert stored is not None and stored.code_digest != code_row.code_digest
    assert (await _use_code(api, code_in(mail))).status_code == 200
    assert await counts(idapp) == {"pending": 0, "delivered": 1, "dead": 0}


async def test_a_restart_between_the_answer_and_the_send_still_sends_it_once(
    api: httpx.AsyncClient,
    idapp: FastAPI,
    inbox: tuple[Inbox, SmtpSettings],  # noqa: F811
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    parent = await _parent(idapp, await make_family(idapp))
    asked = await _request_reset(api, parent.username)
    assert asked.status_code == 200 and "Check your e-mail" in asked.text
    # The process stops before its worker sends anything; a new one starts.
    assert handler.messages == []
    second = restarted(idapp, smtp)
    assert await deliver(second) == 1
    assert await deliver(second) == 0
    (mail,) = handler.messages
    assert mail["To"] == "sarah@example.org"
    async with client_from(second, "203.0.113.7") as c:
        assert (await _use_code(c, code_in(mail))).status_code == 200
        assert (await sign_in(c, parent.username, NEW_PASSWORD)).status_code == 200
    assert len(handler.messages) == 1


async def test_a_worker_killed_mid_send_leaves_it_to_the_next_after_the_lease(
    api: httpx.AsyncClient,
    idapp: FastAPI,
    inbox: tuple[Inbox, SmtpSettings],  # noqa: F811
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    parent = await _parent(idapp, await make_family(idapp))
    assert (await _request_reset(api, parent.username)).status_code == 200
    # The first worker claims the message and dies before sending (its lease is held).
    assert len(await idapp.state.outbox.claim()) == 1
    second = restarted(idapp, smtp)
    assert await deliver(second) == 0 and handler.messages == []
    idapp.state.clock.advance(second.state.outbox.lease + timedelta(seconds=1))
    assert await deliver(second) == 1
    assert await deliver(second) == 0
    (mail,) = handler.messages
    assert (await _use_code(api, code_in(mail))).status_code == 200


async def test_a_relay_down_at_first_gets_the_code_once_it_is_back(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    port = free_port()  # held, not listening: the relay refuses connections
    idapp.state.smtp = SmtpSettings(host="127.0.0.1", port=port, sender="no-reply@school.example")
    parent = await _parent(idapp, await make_family(idapp))
    asked = await _request_reset(api, parent.username)
    assert asked.status_code == 200 and "Check your e-mail" in asked.text
    assert await deliver(idapp) == 1  # tried, and failed
    assert await counts(idapp) == {"pending": 1, "delivered": 0, "dead": 0}
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert await deliver(idapp) == 0  # not due again yet: the back-off
        idapp.state.clock.advance(idapp.state.outbox.policy.first_delay)
        assert await deliver(idapp) == 1
        assert await deliver(idapp) == 0
        idapp.state.clock.advance(timedelta(minutes=5))
        assert await deliver(idapp) == 0
    finally:
        controller.stop()
    (mail,) = handler.messages
    assert await counts(idapp) == {"pending": 0, "delivered": 1, "dead": 0}
    # The failed attempt's code was never sent; the one that was, works.
    assert (await _use_code(api, code_in(mail))).status_code == 200


async def test_a_code_replaced_or_out_of_date_before_the_send_is_not_sent(
    api: httpx.AsyncClient,
    idapp: FastAPI,
    inbox: tuple[Inbox, SmtpSettings],  # noqa: F811
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    family = await make_family(idapp)
    parent = await _parent(idapp, family)
    # Asked twice before anything was sent: only the newer code goes out.
    for _ in range(2):
        assert (await _request_reset(api, parent.username)).status_code == 200
    assert await deliver(idapp) == 2
    (mail,) = handler.messages
    assert (await _use_code(api, code_in(mail))).status_code == 200
    # Out of date before the relay is reached: nothing is sent, and nothing is left to retry.
    other = await _parent(idapp, family, email="other@example.org")
    assert (await _request_reset(api, other.username)).status_code == 200
    idapp.state.clock.advance(timedelta(minutes=idapp.state.settings.reset_code_minutes, seconds=1))
    assert await deliver(idapp) == 1
    assert handler.to("other@example.org") == []
    assert await counts(idapp) == {"pending": 0, "delivered": 3, "dead": 0}


async def test_a_relay_that_refuses_the_address_is_a_dead_letter_and_the_answer_is_the_same(
    api: httpx.AsyncClient,
    idapp: FastAPI,
    inbox: tuple[Inbox, SmtpSettings],  # noqa: F811
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    family = await make_family(idapp)
    refused = await _parent(idapp, family, email=f"{uuid.uuid4().hex[:6]}@refused.example")
    answers = {(await _request_reset(api, name)).text for name in (refused.username, "nobody-at-all")}
    assert len(answers) == 1
    assert await deliver(idapp) == 1
    assert handler.messages == []
    assert await counts(idapp) == {"pending": 0, "delivered": 0, "dead": 1}
