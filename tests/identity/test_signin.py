"""Sign-in security: same answer for unknown user and wrong password, audit of failures, throttling
per account and per source, TOTP (required, wrong, replayed), not-before, deactivation, expiry.
All time moves on the FrozenClock.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from servicekit.clock import FrozenClock
from servicekit.models import AuditEntry
from tests.identity.signin_support import (
    PASSWORD,
    bearer,
    client_from,
    code,
    make_account,
    make_school,
    person_headers,
    sign_in,
)


async def _audit(app: FastAPI, action: str) -> list[AuditEntry]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_unknown_user_and_wrong_password_look_the_same_and_are_audited(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    wrong = await sign_in(api, account.username, "not the password at all")
    unknown = await sign_in(api, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    assert (
        wrong.json()
        == unknown.json()
        == {"error": "invalid_grant", "error_description": "The username or password is wrong."}
    )
    # The refused requests' audit entries were committed, with the source address.
    # (Filtered: the real-process tests share this database and commit for real.)
    failures = [
        e
        for e in await _audit(idapp, "signin.failed")
        if e.detail["username"] in (account.username, "nobody-here")
    ]
    assert sorted(e.detail["reason"] for e in failures) == ["unknown_user", "wrong_password"]
    assert {e.source_ip for e in failures} == {"203.0.113.7"}
    ok = await sign_in(api, account.username)
    assert ok.status_code == 200
    assert [e.target_id for e in await _audit(idapp, "signin.succeeded")].count(str(account.id)) == 1


async def test_ten_failures_lock_the_account_for_five_minutes_then_back_off(
    idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    # Guesses from many addresses: the per-account limit still holds.
    for i in range(10):
        async with client_from(idapp, f"198.51.100.{i}") as c:
            assert (await sign_in(c, account.username, f"guess number {i}")).status_code == 400
    async with client_from(idapp, "198.51.100.200") as c:
        locked = await sign_in(c, account.username)  # even the right password waits
        assert locked.status_code == 429
        assert locked.json()["error"] == "slow_down"
        assert 290 <= int(locked.headers["retry-after"]) <= 300
        clock.advance(minutes=5)
        assert (await sign_in(c, account.username)).status_code == 200


async def test_backoff_doubles_and_is_capped(idapp: FastAPI, clock: FrozenClock) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    waits = []
    for _round in range(4):
        for i in range(10):
            async with client_from(idapp, f"198.51.100.{i}") as c:
                await sign_in(c, account.username, "still wrong!!")
        async with client_from(idapp, "192.0.2.99") as c:
            response = await sign_in(c, account.username)
        assert response.status_code == 429
        wait = int(response.headers["retry-after"])
        waits.append(wait)
        clock.advance(seconds=wait)
    assert waits == [300, 600, 900, 900]
    async with client_from(idapp, "192.0.2.99") as c:
        assert (await sign_in(c, account.username)).status_code == 200


async def test_one_source_guessing_many_accounts_is_throttled(idapp: FastAPI, clock: FrozenClock) -> None:
    async with client_from(idapp, "198.51.100.66") as attacker, client_from(idapp, "192.0.2.1") as other:
        school = await make_school(idapp)
        account, _ = await make_account(idapp, ["teacher"], school_id=school)
        for i in range(10):
            assert (await sign_in(attacker, f"staff{i}", "Password1!")).status_code == 400
        blocked = await sign_in(attacker, account.username)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        # Another address is not affected.
        assert (await sign_in(other, account.username)).status_code == 200
        assert len(await _audit(idapp, "signin.throttled")) == 1
        clock.advance(minutes=5)
        assert (await sign_in(attacker, account.username)).status_code == 200


async def test_two_factor_code_required_checked_and_accepted_once(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, seed = await make_account(idapp, ["head_teacher"], school_id=school)
    assert seed is not None
    missing = await sign_in(api, account.username)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    assert "one-time code" in missing.json()["error_description"]
    wrong_code = "000000" if code(seed, idapp) != "000000" else "111111"
    wrong = await sign_in(api, account.username, otp=wrong_code)
    assert wrong.status_code == 400 and "one-time code" in wrong.json()["error_description"]
    # The right code with a wrong password is still a wrong password.
    assert (
        await sign_in(api, account.username, "a wrong password", otp=code(seed, idapp))
    ).status_code == 400
    current = code(seed, idapp)
    ok = await sign_in(api, account.username, otp=current)
    assert ok.status_code == 200
    replay = await sign_in(api, account.username, otp=current)
    assert replay.status_code == 400
    assert "already been used" in replay.json()["error_description"]
    clock.advance(seconds=30)
    assert (await sign_in(api, account.username, otp=code(seed, idapp))).status_code == 200


async def test_password_change_refuses_older_tokens(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    tokens = (await sign_in(api, account.username)).json()
    clock.advance(seconds=5)
    changed = await api.post(
        "/v1/identity/users/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(tokens["access_token"]),
    )
    assert changed.status_code == 204, changed.text
    clock.advance(seconds=1)
    assert (await api.get("/v1/identity/users/me", headers=bearer(tokens["access_token"]))).status_code == 401
    refresh = await api.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400
    assert (await sign_in(api, account.username)).status_code == 400
    fresh = await sign_in(api, account.username, "a brand new passphrase")
    assert (
        await api.get("/v1/identity/users/me", headers=bearer(fresh.json()["access_token"]))
    ).status_code == 200


async def test_wrong_current_password_is_refused_and_counted(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["access_token"]
    refused = await api.post(
        "/v1/identity/users/me/password",
        json={"current_password": "not it at all", "new_password": "a brand new passphrase"},
        headers=bearer(token),
    )
    assert refused.status_code == 403
    assert len(await _audit(idapp, "account.password_change_refused")) == 1
    assert (await sign_in(api, account.username)).status_code == 200


async def test_deactivated_left_and_expired_accounts_cannot_sign_in(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock, signer
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["access_token"]
    clock.advance(seconds=2)
    head = person_headers(signer, "head_teacher", school)
    assert (await api.post(f"/v1/identity/users/{account.id}/deactivate", headers=head)).status_code == 200
    clock.advance(seconds=1)
    assert (await api.get("/v1/identity/users/me", headers=bearer(token))).status_code == 401
    assert (await sign_in(api, account.username)).status_code == 400
    visitor, _ = await make_account(
        idapp, ["visitor"], school_id=school, kind="visitor", expires_at=clock.now() + timedelta(hours=2)
    )
    visit = await sign_in(api, visitor.username)
    assert visit.status_code == 200
    clock.advance(hours=2)
    assert (await sign_in(api, visitor.username)).status_code == 400


async def test_two_factor_holder_can_reenrol(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, seed = await make_account(idapp, ["office"], school_id=school)
    assert seed is not None
    token = (await sign_in(api, account.username, otp=code(seed, idapp))).json()["access_token"]
    response = await api.post(
        "/v1/identity/users/me/totp", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert response.status_code == 200
    new_seed = response.json()["totp_secret"]
    assert response.json()["otpauth_uri"].startswith("otpauth://totp/")
    clock.advance(seconds=30)
    assert (await sign_in(api, account.username, otp=code(seed, idapp))).status_code == 400
    assert (await sign_in(api, account.username, otp=code(new_seed, idapp))).status_code == 200
