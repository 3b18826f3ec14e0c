"""Sign-in security: same answer for unknown user and wrong password, audit of failures, throttling
per account and per source, TOTP (required, wrong, replayed), not-before, deactivation, expiry.
All time moves on the FrozenClock.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from identity.roles import scopes_for_roles
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
    security,
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


async def test_one_address_spraying_many_accounts_meets_the_flood_guard(
    idapp: FastAPI, clock: FrozenClock
) -> None:
    # The per-address cap is a flood guard (2,000 by default); made small here to reach it.
    security(idapp).settings.signin_source_max_failures = 10
    async with client_from(idapp, "198.51.100.66") as attacker, client_from(idapp, "192.0.2.1") as other:
        school = await make_school(idapp)
        account, _ = await make_account(idapp, ["teacher"], school_id=school)
        for i in range(10):
            assert (await sign_in(attacker, f"staff{i}", "Password1!")).status_code == 400
        blocked = await sign_in(attacker, account.username)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert (await sign_in(attacker, account.username)).status_code == 429
        # Another address is not affected.
        assert (await sign_in(other, account.username)).status_code == 200
        # One entry when the wait starts, not one per refused request.
        throttled = await _audit(idapp, "signin.throttled")
        assert [e.source_ip for e in throttled].count("198.51.100.66") == 1
        clock.advance(minutes=5)
        assert (await sign_in(attacker, account.username)).status_code == 200


async def test_a_school_behind_one_address_signs_in_with_its_mistypes(idapp: FastAPI) -> None:
    """Finding 4: 40 staff behind one NAT address, 15 of them mistyping first, all sign in."""
    school = await make_school(idapp)
    accounts = [(await make_account(idapp, ["teacher"], school_id=school))[0] for _ in range(40)]
    async with client_from(idapp, "203.0.113.50") as school_nat:
        for account in accounts[:15]:
            assert (await sign_in(school_nat, account.username, "a mistyped one")).status_code == 400
        for account in accounts:
            assert (await sign_in(school_nat, account.username)).status_code == 200


async def test_every_password_check_passes_the_same_throttle(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    """Finding 7: /me/password is no oracle: its guesses count with sign-in's and are refused at 11."""
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["access_token"]
    for i in range(10):
        guess = await api.post(
            "/v1/identity/users/me/password",
            json={"current_password": f"guess {i} of many", "new_password": "a brand new passphrase"},
            headers=bearer(token),
        )
        assert guess.status_code == 403
    refused = await api.post(
        "/v1/identity/users/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(token),
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == "application/problem+json"
    # The same count: sign-in waits too, and so does re-enrolling two-factor.
    assert (await sign_in(api, account.username)).status_code == 429
    again = await api.post("/v1/identity/users/me/totp", json={"password": PASSWORD}, headers=bearer(token))
    assert again.status_code == 429


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
    clock.advance(seconds=30)
    response = await api.post(
        "/v1/identity/users/me/totp",
        json={"password": PASSWORD, "otp": code(seed, idapp)},
        headers=bearer(token),
    )
    assert response.status_code == 200
    new_seed = response.json()["totp_secret"]
    assert response.json()["otpauth_uri"].startswith("otpauth://totp/")
    clock.advance(seconds=30)
    assert (await sign_in(api, account.username, otp=code(seed, idapp))).status_code == 400
    assert (await sign_in(api, account.username, otp=code(new_seed, idapp))).status_code == 200


async def test_a_stolen_token_and_password_cannot_move_the_second_factor(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    """Finding 7: re-enrolling two-factor needs a current code, not the password alone."""
    school = await make_school(idapp)
    account, seed = await make_account(idapp, ["safeguarding_lead"], school_id=school)
    assert seed is not None
    token = (await sign_in(api, account.username, otp=code(seed, idapp))).json()["access_token"]
    clock.advance(seconds=30)
    without = await api.post("/v1/identity/users/me/totp", json={"password": PASSWORD}, headers=bearer(token))
    assert without.status_code == 422 and without.json()["type"].endswith("otp-required")
    wrong_code = "000000" if code(seed, idapp) != "000000" else "111111"
    wrong = await api.post(
        "/v1/identity/users/me/totp", json={"password": PASSWORD, "otp": wrong_code}, headers=bearer(token)
    )
    assert wrong.status_code == 403
    assert len(await _audit(idapp, "account.totp_reenrol_refused")) == 1
    # The old factor still works: nothing moved.
    assert (await sign_in(api, account.username, otp=code(seed, idapp))).status_code == 200


async def test_the_platform_administrator_resets_a_lost_phone(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock, signer
) -> None:
    """Finding 7: the lost-phone case is the administrator's audited reset, not the password."""
    school = await make_school(idapp)
    account, seed = await make_account(idapp, ["head_teacher"], school_id=school)
    assert seed is not None
    old = (await sign_in(api, account.username, otp=code(seed, idapp))).json()["access_token"]
    clock.advance(seconds=2)
    head = person_headers(signer, "head_teacher", school)
    assert (await api.post(f"/v1/identity/users/{account.id}/totp", headers=head)).status_code == 403
    admin = signer.headers(
        scopes=scopes_for_roles(["platform_admin"]), roles=["platform_admin"], subject="platform-admin-test"
    )
    reset = await api.post(f"/v1/identity/users/{account.id}/totp", headers=admin)
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    new_seed = reset.json()["totp_secret"]
    entries = [e for e in await _audit(idapp, "account.totp_reset") if e.target_id == str(account.id)]
    assert [e.actor for e in entries] == ["user:platform-admin-test"]
    clock.advance(seconds=30)
    # The sessions made with the old phone end; the old phone's codes no longer sign in.
    assert (await api.get("/v1/identity/users/me", headers=bearer(old))).status_code == 401
    assert (await sign_in(api, account.username, otp=code(seed, idapp))).status_code == 400
    assert (await sign_in(api, account.username, otp=code(new_seed, idapp))).status_code == 200


async def test_revoke_floods_are_limited_and_audited_once_per_window(
    idapp: FastAPI, clock: FrozenClock
) -> None:
    """Finding 8: wrong client secrets on /oauth/revoke are throttled and written as one entry."""
    limit = 100  # IDENTITY_SIGNIN_CLIENT_MAX_FAILURES' default
    form = {"token": "rt_whatever", "client_id": "no-such-client", "client_secret": "not a real secret"}
    async with client_from(idapp, "198.51.100.77") as flooder:
        statuses = [(await flooder.post("/oauth/revoke", data=form)).status_code for _ in range(limit + 20)]
        assert statuses[:limit] == [401] * limit
        assert set(statuses[limit:]) == {429}
        last = await flooder.post("/oauth/revoke", data=form)
        assert last.json()["error"] == "slow_down" and int(last.headers["retry-after"]) > 0
    failed = [e for e in await _audit(idapp, "signin.client_failed") if e.source_ip == "198.51.100.77"]
    throttled = [e for e in await _audit(idapp, "signin.client_throttled") if e.source_ip == "198.51.100.77"]
    assert len(failed) == 1 and len(throttled) == 1
    assert throttled[0].detail["failures"] == limit
    clock.advance(minutes=5)
    async with client_from(idapp, "198.51.100.77") as flooder:
        assert (await flooder.post("/oauth/revoke", data=form)).status_code == 401
