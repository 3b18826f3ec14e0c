"""Each use of a staff device to take images, recorded under the head teacher's permission.

The clock starts on Monday 7 September 2026, 08:30 UTC (09:30 in the school's Europe/London day).
"""

from __future__ import annotations

import httpx

from servicekit.clock import FrozenClock
from tests.world import School

DEVICES = "/v1/devices/staff-devices"
SCHOOL_USES = "/v1/devices/image-uses"


async def note(client: httpx.AsyncClient, school: School, owner: str) -> str:
    body = {"owner_id": owner, "kind": "phone", "make": "Apple", "model": "iPhone 13", "serial_number": "F2"}
    response = await client.post(DEVICES, json=body, headers=school.headers("computing_lead"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def permit(client: httpx.AsyncClient, school: School, device_id: str, until: str) -> str:
    """The head's grant, until `until`; returns the grant's id."""
    grant = {
        "permitted_by": str(school.staff["head_teacher"]),
        "valid_until": until,
        "purpose": "Photos of the Year 5 trip for the class blog",
    }
    response = await client.post(
        f"{DEVICES}/{device_id}/image-permissions", json=grant, headers=school.headers("head_teacher")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["image_permissions"][-1]["id"])


async def withdraw(client: httpx.AsyncClient, school: School, device_id: str) -> None:
    response = await client.post(
        f"{DEVICES}/{device_id}/image-permission-withdrawals",
        json={"withdrawn_by": str(school.staff["head_teacher"]), "reason": "Not downloaded the same day"},
        headers=school.headers("head_teacher"),
    )
    assert response.status_code == 201, response.text


def use(taken_on: object, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "taken_on": taken_on,
        "purpose": "school_trip",
        "description": "Year 5 at the Science Museum, group shots only",
        "pupils_count": 28,
    }
    body.update(overrides)
    return body


async def uses_of(client: httpx.AsyncClient, school: School, device_id: str) -> list[dict]:
    response = await client.get(f"{DEVICES}/{device_id}/image-uses", headers=school.headers("head_teacher"))
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


async def test_the_owner_records_a_permitted_use(client: httpx.AsyncClient, school: School) -> None:
    teacher = str(school.staff["teacher"])
    device = await note(client, school, teacher)
    grant_id = await permit(client, school, device, "2026-09-11T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"

    recorded = await client.post(url, json=use("2026-09-07"), headers=school.headers("teacher"))
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert body["device_id"] == device
    assert body["owner_id"] == teacher
    assert body["taken_on"] == "2026-09-07"
    assert body["purpose"] == "school_trip"
    assert body["pupils_count"] == 28
    assert body["permission_id"] == grant_id
    assert body["permitted_by"] == str(school.staff["head_teacher"])
    assert body["permitted_until"] == "2026-09-11T16:00:00Z"
    assert body["recorded_by"] == teacher

    # The head teacher may record a use for the owner too (pupils_count is optional).
    by_head = await client.post(
        url,
        json=use("2026-09-07", purpose="event", pupils_count=None),
        headers=school.headers("head_teacher"),
    )
    assert by_head.status_code == 201, by_head.text
    assert by_head.json()["recorded_by"] == str(school.staff["head_teacher"])
    assert by_head.json()["pupils_count"] is None

    assert {u["id"] for u in await uses_of(client, school, device)} == {body["id"], by_head.json()["id"]}
    audit = await client.get(
        "/v1/devices/audit",
        params={"action": "staff_device.image_use_recorded"},
        headers=school.headers("head_teacher"),
    )
    entries = audit.json()["items"]
    assert {e["target_id"] for e in entries} == {body["id"], by_head.json()["id"]}
    assert all(e["detail"]["device_id"] == device for e in entries)


async def test_a_use_without_permission_is_refused(client: httpx.AsyncClient, school: School) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    url = f"{DEVICES}/{device}/image-uses"
    teacher = school.headers("teacher")

    refused = await client.post(url, json=use("2026-09-07"), headers=teacher)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("images-not-permitted")
    assert "not permitted" in refused.json()["detail"]

    await permit(client, school, device, "2026-09-11T16:00:00Z")
    # Permission granted today does not cover last Friday's photos.
    before = await client.post(url, json=use("2026-09-04"), headers=teacher)
    assert before.status_code == 422
    assert before.json()["type"].endswith("images-not-permitted")
    # Nor anything from before the device was noted in the register.
    ancient = await client.post(url, json=use("0001-01-01"), headers=teacher)
    assert ancient.status_code == 422
    assert ancient.json()["type"].endswith("images-not-permitted")
    # A use is recorded once it happened, never ahead of it.
    ahead = await client.post(url, json=use("2026-09-08"), headers=teacher)
    assert ahead.status_code == 422
    assert "future" in ahead.json()["detail"]
    assert await uses_of(client, school, device) == []


async def test_a_use_after_expiry_is_refused(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-08T15:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"
    clock.advance(days=3)  # Thursday 10 September

    expired = await client.post(url, json=use("2026-09-09"), headers=school.headers("teacher"))
    assert expired.status_code == 422
    assert "expired" in expired.json()["detail"]
    # Tuesday's use, recorded late, was within the permission.
    late = await client.post(url, json=use("2026-09-08"), headers=school.headers("teacher"))
    assert late.status_code == 201, late.text
    assert [u["taken_on"] for u in await uses_of(client, school, device)] == ["2026-09-08"]


async def test_a_use_after_withdrawal_is_refused(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"
    clock.advance(days=2)  # Wednesday 9 September: the head withdraws at 09:30
    await withdraw(client, school, device)

    # Fail closed on the day of the withdrawal: nothing says the photos came before it.
    same_day = await client.post(url, json=use("2026-09-09"), headers=school.headers("teacher"))
    assert same_day.status_code == 422
    assert "withdrawn" in same_day.json()["detail"]
    clock.advance(days=1)
    next_day = await client.post(url, json=use("2026-09-10"), headers=school.headers("teacher"))
    assert next_day.status_code == 422
    assert "withdrawn" in next_day.json()["detail"]
    # Before the withdrawal the permission was in force.
    earlier = await client.post(url, json=use("2026-09-08"), headers=school.headers("teacher"))
    assert earlier.status_code == 201, earlier.text

    # A fresh grant covers uses from the day it is recorded.
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    again = await client.post(url, json=use("2026-09-10"), headers=school.headers("teacher"))
    assert again.status_code == 201, again.text
    assert [u["taken_on"] for u in await uses_of(client, school, device)] == ["2026-09-08", "2026-09-10"]


async def test_no_use_is_recorded_on_a_removed_device(client: httpx.AsyncClient, school: School) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    removed = await client.post(
        f"{DEVICES}/{device}/removal",
        json={"reason": "no_longer_brought_in"},
        headers=school.headers("computing_lead"),
    )
    assert removed.status_code == 200
    refused = await client.post(
        f"{DEVICES}/{device}/image-uses", json=use("2026-09-07"), headers=school.headers("teacher")
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("staff-device-removed")
    assert await uses_of(client, school, device) == []


async def test_another_schools_device_is_404(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"
    other_head = other_school.headers("head_teacher")
    assert (await client.post(url, json=use("2026-09-07"), headers=other_head)).status_code == 404
    assert (await client.get(url, headers=other_head)).status_code == 404
    # Nor does the other school's head see this school's uses in their school-wide view.
    await client.post(url, json=use("2026-09-07"), headers=school.headers("teacher"))
    theirs = await client.get(SCHOOL_USES, headers=other_head)
    assert theirs.status_code == 200
    assert theirs.json()["items"] == []


async def test_only_the_owner_or_the_head_records_and_reads_uses(
    client: httpx.AsyncClient, school: School
) -> None:
    # The safeguarding lead's own phone, permitted; the teacher tries to use it as theirs.
    device = await note(client, school, str(school.staff["safeguarding_lead"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"

    teacher = school.headers("teacher")
    assert (await client.post(url, json=use("2026-09-07"), headers=teacher)).status_code == 404
    assert (await client.get(url, headers=teacher)).status_code == 404
    # Those who keep the register see the device but not its uses, and cannot record them.
    for role in ("computing_lead", "office"):
        refused = await client.post(url, json=use("2026-09-07"), headers=school.headers(role))
        assert refused.status_code == 403, role
        assert (await client.get(url, headers=school.headers(role))).status_code == 403, role
    # The office system has no business here at all.
    office_system = await client.post(url, json=use("2026-09-07"), headers=school.headers("office_system"))
    assert office_system.status_code == 403
    assert await uses_of(client, school, device) == []

    own = await client.post(url, json=use("2026-09-07"), headers=school.headers("safeguarding_lead"))
    assert own.status_code == 201, own.text
    mine = await client.get(url, headers=school.headers("safeguarding_lead"))
    assert [u["id"] for u in mine.json()["items"]] == [own.json()["id"]]
    # The school-wide view is the head teacher's alone.
    for role in ("computing_lead", "office", "teacher", "safeguarding_lead"):
        assert (await client.get(SCHOOL_USES, headers=school.headers(role))).status_code == 403, role


async def test_an_idempotent_retry_records_one_use(client: httpx.AsyncClient, school: School) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"
    headers = {**school.headers("teacher"), "Idempotency-Key": "use-2026-09-07-trip"}

    first = await client.post(url, json=use("2026-09-07"), headers=headers)
    retry = await client.post(url, json=use("2026-09-07"), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    changed = await client.post(url, json=use("2026-09-07", pupils_count=3), headers=headers)
    assert changed.status_code == 422
    assert [u["id"] for u in await uses_of(client, school, device)] == [first.json()["id"]]


async def test_bad_input_is_refused_and_records_nothing(client: httpx.AsyncClient, school: School) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-30T16:00:00Z")
    url = f"{DEVICES}/{device}/image-uses"
    teacher = school.headers("teacher")
    for body in (
        use("2026-09-07", recorded_by=str(school.staff["head_teacher"])),
        use("2026-09-07", description="x" * 501),
        use("2026-09-07", description="  "),
        use("2026-09-07", purpose="holiday_snaps"),
        use("2026-09-07", pupils_count=-1),
        use("7 September"),
        use(0),  # pydantic alone would take these as seconds since 1970
        use(1788739200),
        use("0.5"),
    ):
        response = await client.post(url, json=body, headers=teacher)
        assert response.status_code == 422, body
    assert await uses_of(client, school, device) == []


async def test_the_history_of_uses_is_paged_and_the_head_sees_the_school(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    teacher_phone = await note(client, school, str(school.staff["teacher"]))
    office_phone = await note(client, school, str(school.staff["office"]))
    for device in (teacher_phone, office_phone):
        await permit(client, school, device, "2026-09-30T16:00:00Z")
    clock.advance(days=4)  # Friday 11 September
    for day in ("2026-09-07", "2026-09-09", "2026-09-11"):
        response = await client.post(
            f"{DEVICES}/{teacher_phone}/image-uses", json=use(day), headers=school.headers("teacher")
        )
        assert response.status_code == 201, response.text
    office_use = await client.post(
        f"{DEVICES}/{office_phone}/image-uses",
        json=use("2026-09-10", purpose="event", description="Harvest festival assembly"),
        headers=school.headers("office"),
    )
    assert office_use.status_code == 201, office_use.text

    # The owner pages through their device's history, oldest day first.
    seen: list[str] = []
    page_url: str | None = f"{DEVICES}/{teacher_phone}/image-uses?limit=2"
    pages = 0
    while page_url is not None:
        page = await client.get(page_url, headers=school.headers("teacher"))
        assert page.status_code == 200
        seen += [u["taken_on"] for u in page.json()["items"]]
        link = page.headers.get("link")
        page_url = link[1 : link.index(">")] if link else None
        pages += 1
    assert seen == ["2026-09-07", "2026-09-09", "2026-09-11"]
    assert pages == 2
    # The office sees only its own device's uses, not the teacher's.
    office_own = await client.get(f"{DEVICES}/{office_phone}/image-uses", headers=school.headers("office"))
    assert [u["taken_on"] for u in office_own.json()["items"]] == ["2026-09-10"]

    head = school.headers("head_teacher")
    everything = await client.get(SCHOOL_USES, headers=head)
    assert [(u["device_id"], u["taken_on"]) for u in everything.json()["items"]] == [
        (teacher_phone, "2026-09-07"),
        (teacher_phone, "2026-09-09"),
        (office_phone, "2026-09-10"),
        (teacher_phone, "2026-09-11"),
    ]
    window = await client.get(
        SCHOOL_USES, params={"since": "2026-09-09", "until": "2026-09-10"}, headers=head
    )
    assert [u["taken_on"] for u in window.json()["items"]] == ["2026-09-09", "2026-09-10"]
    assert window.json()["items"][1]["owner_id"] == str(school.staff["office"])
    backwards = await client.get(
        SCHOOL_USES, params={"since": "2026-09-10", "until": "2026-09-09"}, headers=head
    )
    # An empty period (the schema allows any two days): nothing in it, not a 422.
    assert backwards.status_code == 200 and backwards.json()["items"] == []
    assert (await client.get(SCHOOL_USES, params={"cursor": "not-a-cursor"}, headers=head)).status_code == 422
