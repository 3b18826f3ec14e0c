"""What a relying party (the MLE) learns of an account: id, school, roles and a pupil's year group;
no name without `profile`, and no year group for anyone but a pupil."""

from __future__ import annotations

from fastapi import FastAPI

from identity.accounts.claims import account_claims
from identity.oidc import service as oidc_service
from tests.identity.signin_support import make_account, make_school


async def test_a_pupils_claims_carry_the_year_group_and_nothing_personal(idapp: FastAPI) -> None:
    school = await make_school(idapp)
    pupil, _ = await make_account(idapp, ["pupil"], school_id=school, kind="pupil")
    teacher, _ = await make_account(idapp, ["teacher"], school_id=school)
    async with idapp.state.sessionmaker() as session:
        claims = await account_claims(session, pupil)
        assert claims == {
            "sub": str(pupil.id),
            "school_id": str(school),
            "roles": ["pupil"],
            "year_group": "4",
        }
        assert "year_group" not in await account_claims(session, teacher)
        info = await oidc_service.userinfo(session, str(pupil.id), frozenset({"openid"}))
        assert info == claims
        named = await oidc_service.userinfo(session, str(pupil.id), frozenset({"openid", "profile"}))
        assert named is not None and named["year_group"] == "4" and named["given_name"] == "Alex"
        teacher_info = await oidc_service.userinfo(session, str(teacher.id), frozenset({"openid"}))
        assert teacher_info is not None and "year_group" not in teacher_info
