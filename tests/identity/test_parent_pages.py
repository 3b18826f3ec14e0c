"""The account pages, in-process: a carer accepts an invitation and has a parent account linked to
their carer record; a password is reset by an e-mailed code (a real SMTP server on 127.0.0.1) or
one the office handed over. And the attacks: a code used twice, an expired or withdrawn one, a
carer whose parental responsibility ended, a form posted without its CSRF token, and enumeration
(the reset request answers alike for unknown and known accounts).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import update

from identity.accounts.models import Account
from identity.invitations.models import Invitation
from identity.people.models import CarerLink, Person
from servicekit.mail import SmtpSettings
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory, free_port
from tests.identity.parents_support import Family, make_family, office, rows
from tests.identity.signin_support import bearer, make_account, sign_in
from tests.kit.test_mail import Inbox

NEW_PASSWORD = "seven silver spoons"
INVITATION = "/oauth/account/invitation"
RESET = "/oauth/account/reset"
RESET_CODE = "/oauth/account/reset/code"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpSettings]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, SmtpSettings(host="127.0.0.1", port=controller.port, sender="no-reply@school.example")
    finally:
        controller.stop()


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def invite(api: httpx.AsyncClient, signer: TokenFactory, family: Family, **body: str) -> dict:
    created = await api.post(
        "/v1/identity/invitations",
        json={"carer_id": str(family.carer_id), **body},
        headers=office(signer, family),
    )
    assert created.status_code == 201, created.text
    result: dict = created.json()
    return result


async def accept(
    api: httpx.AsyncClient, code: str, username: str, password: str = NEW_PASSWORD, again: str | None = None
) -> httpx.Response:
    page = await api.get(INVITATION, params={"code": code})
    form = {
        "code": code,
        "username": username,
        "password": password,
        "password_again": password if again is None else again,
        # A refused code shows no form: the token comes from another of the browser's pages then.
        "csrf_token": csrf(page if page.status_code == 200 else await api.get(RESET)),
    }
    return await api.post(INVITATION, data=form)


async def test_a_carer_accepts_the_invitation_and_is_a_parent_of_their_children(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    invitation = await invite(api, signer, family, email="sarah@example.org")
    link = httpx.URL(invitation["url"])
    page = await api.get(link.path, params=dict(link.params))
    assert page.status_code == 200
    assert "Star Primary" in page.text  # the school's name
    assert 'autocomplete="username"' in page.text and page.text.count('autocomplete="new-password"') == 2
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Amy" not in page.text  # the page names no child
    done = await accept(api, invitation["code"], "sarah.khan")
    assert done.status_code == 200, done.text
    assert "Your parent account is ready" in done.text and "sarah.khan" in done.text
    (account,) = await rows(idapp, Account, username_key="sarah.khan")
    assert account.roles == ["parent"] and account.person_id == family.carer_id
    assert account.school_id == family.school_id and account.email == "sarah@example.org"
    # The parent signs in; the token names the carer, whose links lead to the children.
    token = await sign_in(api, "sarah.khan", NEW_PASSWORD)
    assert token.status_code == 200, token.text
    me = await api.get("/v1/identity/users/me", headers=bearer(token.json()["access_token"]))
    assert me.json()["person_id"] == str(family.carer_id)
    # Used, and audited: who issued it, when it was used, by which account.
    read = await api.get(f"/v1/identity/invitations/{invitation['id']}", headers=office(signer, family))
    assert read.json()["status"] == "used" and read.json()["account_id"] == str(account.id)
    (accepted,) = await rows(idapp, AuditEntry, action="invitation.accepted")
    assert accepted.detail["account_id"] == str(account.id) and accepted.detail["issued_by"].startswith(
        "user:"
    )


async def test_an_invitation_works_once(api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory) -> None:
    family = await make_family(idapp)
    invitation = await invite(api, signer, family)
    assert (await accept(api, invitation["code"], "first.user")).status_code == 200
    again = await api.get(INVITATION, params={"code": invitation["code"]})
    assert again.status_code == 410 and "used already" in again.text
    # A replayed form post is refused too, and makes nothing.
    form = {
        "code": invitation["code"],
        "username": "second.user",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        "csrf_token": csrf(await api.get(RESET)),
    }
    replay = await api.post(INVITATION, data=form)
    assert replay.status_code == 410
    assert await rows(idapp, Account, username_key="second.user") == []
    refused = await rows(idapp, AuditEntry, action="invitation.use_refused")
    assert [e.detail["reason"] for e in refused] == ["used", "used"]


async def test_expired_and_withdrawn_invitations_are_refused_with_what_to_do(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    withdrawn = await invite(api, signer, family)
    revoke = f"/v1/identity/invitations/{withdrawn['id']}/revoke"
    assert (await api.post(revoke, headers=office(signer, family))).status_code == 200
    page = await api.get(INVITATION, params={"code": withdrawn["code"]})
    assert page.status_code == 410 and "Ask the school office for a new one" in page.text
    expiring = await invite(api, signer, family)
    idapp.state.clock.advance(timedelta(days=7, minutes=1))
    response = await accept(api, expiring["code"], "late.user")
    assert response.status_code == 410 and "expired" in response.text
    assert await rows(idapp, Account, username_key="late.user") == []
    unknown = await api.get(INVITATION, params={"code": "ACDE-FGHJ-KMNP-QRTU"})
    assert unknown.status_code == 400 and "do not recognise" in unknown.text


async def test_an_invitation_of_a_carer_whose_parental_responsibility_ended_is_refused(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    invitation = await invite(api, signer, family)
    async with idapp.state.sessionmaker() as session:
        await session.execute(
            update(CarerLink)
            .where(CarerLink.carer_id == family.carer_id)
            .values(has_parental_responsibility=False)
        )
        await session.commit()
    response = await accept(api, invitation["code"], "no.longer")
    assert response.status_code == 410
    assert await rows(idapp, Account, username_key="no.longer") == []


async def test_the_form_needs_its_csrf_token_and_the_password_rules_hold(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    invitation = await invite(api, signer, family)
    form = {
        "code": invitation["code"],
        "username": "x.user",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    # A cross-site post: no token, or a token but none of the browser's form cookie.
    assert (await api.post(INVITATION, data=form)).status_code == 400
    token = csrf(await api.get(INVITATION, params={"code": invitation["code"]}))
    api.cookies.clear()
    assert (await api.post(INVITATION, data={**form, "csrf_token": token})).status_code == 400
    weak = await accept(api, invitation["code"], "x.user", password="password")
    assert weak.status_code == 400 and "common password" in weak.text
    mismatch = await accept(api, invitation["code"], "x.user", again=NEW_PASSWORD + "!")
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    taken, _ = await make_account(idapp, ["teacher"], school_id=family.school_id)
    clash = await accept(api, invitation["code"], taken.username)
    assert clash.status_code == 400 and "taken" in clash.text
    assert await rows(idapp, Account, username_key="x.user") == []
    (row,) = await rows(idapp, Invitation, id=uuid.UUID(invitation["id"]))
    assert row.used_at is None  # still pending: nothing was half-done


async def _request_reset(api: httpx.AsyncClient, identifier: str) -> httpx.Response:
    return await api.post(RESET, data={"identifier": identifier, "csrf_token": csrf(await api.get(RESET))})


async def deliver(app: FastAPI) -> int:
    """Run the app's outbox worker until nothing is due (one message at a time: the test's sessions
    share one rolled-back connection, which concurrent deliveries would interleave)."""
    app.state.outbox.batch_size = 1
    return int(await app.state.outbox.run_until_idle())


async def _use_code(api: httpx.AsyncClient, code: str, password: str = NEW_PASSWORD) -> httpx.Response:
    form = {"code": code, "password": password, "password_again": password}
    return await api.post(RESET_CODE, data={**form, "csrf_token": csrf(await api.get(RESET_CODE))})


async def _parent(idapp: FastAPI, family: Family, email: str | None = "sarah@example.org") -> Account:
    account, _ = await make_account(idapp, ["parent"], school_id=family.school_id, kind="parent")
    async with idapp.state.sessionmaker() as session:
        await session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(email=email, email_key=email and email.lower())
        )
        await session.commit()
    return account


async def test_a_reset_code_is_emailed_works_once_and_ends_every_session(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    family = await make_family(idapp)
    parent = await _parent(idapp, family)
    before = await sign_in(api, parent.username)
    assert before.status_code == 200
    idapp.state.clock.advance(seconds=5)
    asked = await _request_reset(api, "Sarah@Example.org")
    assert asked.status_code == 200 and "Check your e-mail" in asked.text
    assert handler.messages == []  # in the outbox, committed with the code; the worker sends it
    assert await deliver(idapp) == 1
    (mail,) = handler.messages
    assert mail["To"] == "sarah@example.org" and mail["Subject"] == "Your password reset code"
    text = mail.get_content()
    code = re.search(r"Your code: ([A-Z0-9-]+)", text).group(1)  # type: ignore[union-attr]
    assert "/oauth/account/reset/code" in text
    # Only the code and the link: no child, no name, no username, no school.
    for name in ("Amy", "Khan", "Sam", parent.username, "Star Primary"):
        assert name not in text
    done = await _use_code(api, code)
    assert done.status_code == 200 and "Your password is changed" in done.text
    assert (await sign_in(api, parent.username, NEW_PASSWORD)).status_code == 200
    # The tokens and sessions from before are gone.
    old = await api.get("/v1/identity/users/me", headers=bearer(before.json()["access_token"]))
    assert old.status_code == 401
    refresh = await api.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": before.json()["refresh_token"]}
    )
    assert refresh.status_code == 400
    # Used once: a second use is refused and audited.
    again = await _use_code(api, code, "another fine password")
    assert again.status_code == 400 and "does not work" in again.text
    assert (await sign_in(api, parent.username, "another fine password")).status_code != 200
    (refused,) = await rows(idapp, AuditEntry, action="account.reset_code_refused")
    assert refused.detail["reason"] == "used"


async def test_the_reset_request_reads_alike_for_unknown_and_known_accounts(
    api: httpx.AsyncClient, idapp: FastAPI, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    family = await make_family(idapp)
    parent = await _parent(idapp, family)
    no_email = await _parent(idapp, family, email=None)
    answers = [
        await _request_reset(api, name)
        for name in (parent.username, "nobody-here", "nobody@example.org", no_email.username)
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert len({tuple(sorted(k for k in a.headers if k != "content-length")) for a in answers}) == 1
    await deliver(idapp)
    assert len(handler.messages) == 1  # only the known account with an address got mail
    # The throttle counts names whether or not they exist: the sixth ask in the window is refused.
    for name in (parent.username, "nobody-here"):
        for _ in range(4):
            await _request_reset(api, name)
        assert (await _request_reset(api, name)).status_code == 429


async def test_an_expired_or_superseded_code_is_refused(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    parent = await _parent(idapp, family, email=None)
    path = f"/v1/identity/users/{parent.id}/reset-code"
    first = (await api.post(path, headers=office(signer, family))).json()["code"]
    second = (await api.post(path, headers=office(signer, family))).json()["code"]
    assert (await _use_code(api, first)).status_code == 400
    idapp.state.clock.advance(timedelta(hours=24, seconds=1))
    assert (await _use_code(api, second)).status_code == 400
    assert (await sign_in(api, parent.username, NEW_PASSWORD)).status_code != 200
    reasons = sorted(
        e.detail["reason"] for e in await rows(idapp, AuditEntry, action="account.reset_code_refused")
    )
    assert reasons == ["expired", "superseded"]


async def test_the_office_hands_over_a_code_that_sets_the_password(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    parent = await _parent(idapp, family, email=None)
    code = (
        await api.post(f"/v1/identity/users/{parent.id}/reset-code", headers=office(signer, family))
    ).json()
    done = await _use_code(api, code["code"].lower().replace("-", " "))  # as typed from a paper slip
    assert done.status_code == 200, done.text
    assert (await sign_in(api, parent.username, NEW_PASSWORD)).status_code == 200
    (reset,) = await rows(idapp, AuditEntry, action="account.password_reset")
    assert reset.actor.startswith("reset-code:") and reset.detail["channel"] == "office"


async def test_a_class_managed_pupil_gets_no_self_service_code(
    api: httpx.AsyncClient, idapp: FastAPI, inbox: tuple[Inbox, SmtpSettings]
) -> None:
    handler, smtp = inbox
    idapp.state.smtp = smtp
    family = await make_family(idapp)
    pupil, _ = await make_account(idapp, ["pupil"], school_id=family.school_id, kind="pupil")
    async with idapp.state.sessionmaker() as session:
        await session.execute(update(Person).where(Person.id == pupil.person_id).values(year_group="1"))
        await session.execute(
            update(Account)
            .where(Account.id == pupil.id)
            .values(email="class1@example.org", email_key="class1@example.org")
        )
        await session.commit()
    asked = await _request_reset(api, pupil.username)
    assert asked.status_code == 200
    assert await deliver(idapp) == 0 and handler.messages == []
