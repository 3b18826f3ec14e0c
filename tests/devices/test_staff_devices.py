"""The staff and visitor device register and the head's consent to take images on a device."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from servicekit.clock import FrozenClock
from servicekit.models import ReplicaPerson
from tests.world import School

URL = "/v1/devices/staff-devices"


async def note(client: httpx.AsyncClient, school: School, owner: str, **overrides: object) -> dict:
    body: dict[str, object] = {
        "owner_id": owner,
        "kind": "phone",
        "make": "Apple",
        "model": "iPhone 13",
        "serial_number": "F2LXK1",
    }
    body.update(overrides)
    response = await client.post(URL, json=body, headers=school.headers("computing_lead"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_device_is_noted_with_its_owner(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    assert device["owner_name"] == "Teacher Star Primary School"
    assert device["images_permitted"] is False
    await note(
        client,
        school,
        str(school.visitors[0]),
        kind="camera",
        make="Canon",
        model="EOS R50",
        serial_number="C9",
    )
    for owner in (school.pupils[0], other_school.staff["teacher"], school.leavers[0]):
        body = {"owner_id": str(owner), "kind": "phone", "make": "A", "model": "B", "serial_number": "C"}
        assert (
            await client.post(URL, json=body, headers=school.headers("computing_lead"))
        ).status_code == 422
    listed = (await client.get(URL, headers=school.headers("office"))).json()["items"]
    assert len(listed) == 2
    assert (
        await client.get(f"{URL}/{device['id']}", headers=other_school.headers("head_teacher"))
    ).status_code == 404


async def test_the_head_permits_images_until_a_time(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    url = f"{URL}/{device['id']}/image-permissions"
    grant = {
        "permitted_by": str(school.staff["teacher"]),
        "valid_until": "2026-09-07T16:00:00Z",
        "purpose": "Photos of the Year 5 trip for the class blog",
    }
    assert (await client.post(url, json=grant, headers=school.headers("head_teacher"))).status_code == 422
    grant["permitted_by"] = str(school.staff["head_teacher"])
    granted = await client.post(url, json=grant, headers=school.headers("head_teacher"))
    assert granted.status_code == 201
    body = granted.json()
    assert body["images_permitted"] is True
    assert body["images_permitted_by"] == str(school.staff["head_teacher"])
    assert body["images_permitted_until"] == "2026-09-07T16:00:00Z"
    clock.advance(hours=8)
    later = (await client.get(f"{URL}/{device['id']}", headers=school.headers("head_teacher"))).json()
    assert later["images_permitted"] is False
    assert [p["action"] for p in later["image_permissions"]] == ["granted"]


async def test_a_permission_ends_at_an_rfc3339_time_never_a_number(
    client: httpx.AsyncClient, school: School
) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    url = f"{URL}/{device['id']}/image-permissions"
    head = school.headers("head_teacher")
    for until in (1788800000, "1788800000", "0.5", "2026-09-07T16:00:00"):
        grant = {
            "permitted_by": str(school.staff["head_teacher"]),
            "valid_until": until,
            "purpose": "Sports day",
        }
        refused = await client.post(url, json=grant, headers=head)
        assert refused.status_code == 422, until
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert error["field"] == "body.valid_until" and "RFC 3339" in error["message"]
    after = (await client.get(f"{URL}/{device['id']}", headers=head)).json()
    assert after["images_permitted"] is False and after["image_permissions"] == []


async def test_the_head_can_withdraw_permission(client: httpx.AsyncClient, school: School) -> None:
    device = await note(client, school, str(school.staff["teacher"]))
    head = str(school.staff["head_teacher"])
    await client.post(
        f"{URL}/{device['id']}/image-permissions",
        json={"permitted_by": head, "valid_until": "2026-12-31T16:00:00Z", "purpose": "Sports day"},
        headers=school.headers("head_teacher"),
    )
    withdrawn = await client.post(
        f"{URL}/{device['id']}/image-permission-withdrawals",
        json={"withdrawn_by": head, "reason": "Photos not downloaded the same day"},
        headers=school.headers("head_teacher"),
    )
    assert withdrawn.status_code == 201
    assert withdrawn.json()["images_permitted"] is False
    assert [p["action"] for p in withdrawn.json()["image_permissions"]] == ["granted", "withdrawn"]


async def test_devices_of_leavers_are_listed_and_removed(
    app: FastAPI, client: httpx.AsyncClient, school: School
) -> None:
    staying = await note(client, school, str(school.staff["teacher"]))
    device = await note(client, school, str(school.visitors[0]))
    # The visitor's time at the school ends: identity's feed marks them off roll.
    async with app.state.sessionmaker() as session:
        visitor = await session.get(ReplicaPerson, school.visitors[0])
        assert visitor is not None
        visitor.is_on_roll = False
        await session.commit()
    lead = school.headers("computing_lead")
    to_remove = (
        await client.get(URL, params={"owner_has_left": "true", "status": "active"}, headers=lead)
    ).json()
    assert [d["id"] for d in to_remove["items"]] == [device["id"]]
    removed = await client.post(f"{URL}/{device['id']}/removal", json={"reason": "owner_left"}, headers=lead)
    assert removed.status_code == 200
    assert removed.json()["status"] == "removed"
    again = await client.post(f"{URL}/{device['id']}/removal", json={"reason": "owner_left"}, headers=lead)
    assert again.status_code == 409
    to_remove = (
        await client.get(URL, params={"owner_has_left": "true", "status": "active"}, headers=lead)
    ).json()
    assert to_remove["items"] == []
    active = (await client.get(URL, params={"status": "active"}, headers=lead)).json()["items"]
    assert [d["id"] for d in active] == [staying["id"]]


async def test_a_change_sent_with_a_stale_etag_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, school: School
) -> None:
    """`If-Match` is optional on the register's changes; sent, it must name the device's version."""
    device = await note(client, school, str(school.staff["teacher"]))
    lead = school.headers("computing_lead")
    read = await client.get(f"{URL}/{device['id']}", headers=lead)
    seen = read.headers["etag"]
    head = str(school.staff["head_teacher"])
    grant = {"permitted_by": head, "valid_until": "2026-12-31T16:00:00Z", "purpose": "Sports day"}
    granted = await client.post(
        f"{URL}/{device['id']}/image-permissions", json=grant, headers={**lead, "If-Match": seen}
    )
    assert granted.status_code == 201, granted.text
    # A second change made from the ETag read before the first: 412 with the current ETag.
    for path, body in (
        ("image-permission-withdrawals", {"withdrawn_by": head}),
        ("removal", {"reason": "lost"}),
    ):
        stale = await client.post(
            f"{URL}/{device['id']}/{path}", json=body, headers={**lead, "If-Match": seen}
        )
        assert stale.status_code == 412, stale.text
        assert stale.headers["etag"] == granted.headers["etag"]
    after = (await client.get(f"{URL}/{device['id']}", headers=lead)).json()
    assert after["status"] == "active" and after["images_permitted"] is True
    assert [p["action"] for p in after["image_permissions"]] == ["granted"]
    fresh = await client.post(
        f"{URL}/{device['id']}/removal",
        json={"reason": "lost"},
        headers={**lead, "If-Match": granted.headers["etag"]},
    )
    assert fresh.status_code == 200 and fresh.json()["status"] == "removed"
