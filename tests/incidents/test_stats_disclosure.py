"""Small counts cannot be taken apart: the attacker asks every question the counts answer and learns
nothing of one incident among many.

Each test builds two worlds that differ only in the secret (which category the 12 June
incident is; whether March had its one incident), lets a governor and the LA ask every period
(days, overlapping ranges, open ends), every grouping and the totals, and requires the two worlds
to answer alike: then no combination of those answers tells the secret.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.incidents.conftest import add_school, report
from tests.world import School

GROUPINGS = ["category", "month", "year_group", "school"]


def _periods(starts: list[str], ends: list[str]) -> list[dict[str, str]]:
    """Every one-day period of `starts`, every range between them and `ends`, and open ends."""
    periods: list[dict[str, str]] = [{}]
    periods += [{"from": d, "to": d} for d in starts]
    periods += [{"from": a, "to": b} for a in starts for b in ends if a <= b]
    periods += [{"from": d} for d in starts] + [{"to": d} for d in ends]
    return periods


async def _answers(
    client,
    headers: dict[str, str],
    periods: list[dict[str, str]],
    names: dict[str, str],
    groupings: list[tuple[str, ...]] | None = None,
) -> list[Any]:
    """What the attacker sees, with the two worlds' school ids and names put the same."""
    seen = []
    every = [g for n in range(len(GROUPINGS) + 1) for g in itertools.combinations(GROUPINGS, n)]
    for groups in groupings or every:
        for period in periods:
            response = await client.get(
                "/v1/incidents/stats", params={**period, "group_by": list(groups)}, headers=headers
            )
            assert response.status_code == 200, response.text
            text = response.text
            for real, alias in names.items():
                text = text.replace(real, alias)
            body = json.loads(text)
            body["items"] = sorted(json.dumps(i, sort_keys=True) for i in body["items"])
            seen.append(body)
    return seen


async def _incident(client, school: School, incident_body, category: str, day: str, pupil: int = 0) -> None:
    body = incident_body(
        category,
        occurred_at=f"{day}T10:00:00Z",
        people=[{"person_id": str(school.pupils[pupil]), "role": "affected"}],
    )
    await report(client, school, body, role="safeguarding_lead")


async def _world(client, app, tokens, incident_body, la_code: str, grooming_on: str, other_on: str):
    """A school with 22 cyberbullying incidents in June and one grooming, and a sibling school."""
    school = await add_school(app, tokens, la_code=la_code, pupils=4)
    sibling = await add_school(app, tokens, la_code=la_code, pupils=4)
    june = [f"2026-06-{d:02d}" for d in range(1, 30)]
    for n, day in enumerate(d for d in june if d not in (grooming_on, other_on)):
        if n < 21:
            await _incident(client, school, incident_body, "cyberbullying", day, pupil=n % 4)
    await _incident(client, school, incident_body, "cyberbullying", other_on, pupil=1)
    await _incident(client, school, incident_body, "grooming", grooming_on, pupil=2)
    for n in range(6):
        await _incident(client, sibling, incident_body, "misuse_of_ict", f"2026-06-{n + 2:02d}", pupil=n % 4)
    names = {
        str(school.id): "school",
        f"School {la_code}": "School",
        str(sibling.id): "sibling",
    }
    return school, sibling, names


async def test_a_day_query_cannot_name_the_category_of_that_days_only_incident(
    client, app, tokens, incident_body
) -> None:
    """The issue's attack: 12 June had one incident; is it the grooming? World A: yes. World B:
    the grooming was on the 20th and the 12th's incident is one of the cyberbullying."""
    a, _, names_a = await _world(client, app, tokens, incident_body, "411", "2026-06-12", "2026-06-20")
    b, _, names_b = await _world(client, app, tokens, incident_body, "412", "2026-06-20", "2026-06-12")
    days = ["2026-05-28", "2026-06-12", "2026-06-13", "2026-07-01"]
    periods = _periods(days, ["2026-06-12", "2026-06-30", "2026-07-15"])
    governor_a = await _answers(client, a.headers("governor"), periods, names_a)
    governor_b = await _answers(client, b.headers("governor"), periods, names_b)
    assert governor_a == governor_b
    assert await _answers(client, a.headers("la"), periods, names_a) == await _answers(
        client, b.headers("la"), periods, names_b
    )
    # And the counts are still worth having: June's cyberbullying is there, rounded.
    june = await client.get(
        "/v1/incidents/stats",
        params={"from": "2026-06-12", "to": "2026-06-12", "group_by": "category"},
        headers=a.headers("governor"),
    )
    body = june.json()
    assert body["items"] == [{"category": "cyberbullying", "count": 20}]
    assert (body["from"], body["to"], body["total"]) == ("2026-06-01", "2026-06-30", 25)


async def _january_to_march(client, app, tokens, incident_body, la_code: str, *, march: bool) -> School:
    """22 incidents in January and February (a count on a rounding edge: 22 rounds to 20, 23 to 25),
    and in world A one more in March."""
    school = await add_school(app, tokens, la_code=la_code, pupils=4)
    for n in range(22):
        day = f"2026-01-{n + 1:02d}" if n < 12 else f"2026-02-{n - 10:02d}"
        await _incident(client, school, incident_body, "cyberbullying", day, pupil=n % 4)
    if march:
        await _incident(client, school, incident_body, "sexting", "2026-03-17", pupil=3)
    return school


async def test_a_longer_period_minus_a_shorter_one_tells_nothing(client, app, tokens, incident_body) -> None:
    """Jan–Mar minus Jan–Feb (and every other pair of periods): is there an incident in March?"""
    with_march = await _january_to_march(client, app, tokens, incident_body, "421", march=True)
    without = await _january_to_march(client, app, tokens, incident_body, "422", march=False)
    periods = _periods(
        ["2025-12-01", "2026-01-01", "2026-01-15", "2026-02-01", "2026-03-17"],
        ["2026-02-28", "2026-03-01", "2026-03-16", "2026-03-17", "2026-03-31", "2026-04-30"],
    )
    groupings = [(), ("category",), ("month",), ("school",), ("month", "category"), ("year_group", "school")]
    names_a = {str(with_march.id): "school", "School 421": "School"}
    names_b = {str(without.id): "school", "School 422": "School"}
    for headers_a, headers_b in (
        (with_march.headers("governor"), without.headers("governor")),
        (with_march.headers("head_teacher"), without.headers("head_teacher")),
        (with_march.headers("la"), without.headers("la")),
    ):
        assert await _answers(client, headers_a, periods, names_a, groupings) == await _answers(
            client, headers_b, periods, names_b, groupings
        )
    # What the attacker computed: the two totals differ by exactly the published months between them.
    governor = with_march.headers("governor")
    jan_mar = await client.get(
        "/v1/incidents/stats", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=governor
    )
    jan_feb = await client.get(
        "/v1/incidents/stats", params={"from": "2026-01-01", "to": "2026-02-28"}, headers=governor
    )
    assert jan_mar.json()["total"] - jan_feb.json()["total"] == 0


async def test_every_published_count_is_a_sum_of_rounded_cells_of_five_or_more(
    client, school, incident_body
) -> None:
    for n in range(13):
        await _incident(
            client,
            school,
            incident_body,
            "cyberbullying" if n < 9 else "grooming",
            f"2026-06-{n + 1:02d}",
            pupil=n % 3,
        )
    for groups in (
        [],
        ["category"],
        ["month", "category"],
        ["year_group"],
        ["school", "category", "year_group"],
    ):
        body = (
            await client.get(
                "/v1/incidents/stats", params={"group_by": groups}, headers=school.headers("governor")
            )
        ).json()
        assert body["total"] % 5 == 0 and body["suppressed"] is True
        assert all(
            isinstance(i["count"], int) and i["count"] >= 5 and i["count"] % 5 == 0 for i in body["items"]
        )
        assert body["disclosure"]["withheld_below"] == 5 and body["disclosure"]["rounded_to"] == 5
