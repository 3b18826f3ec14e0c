"""The console's own cost: server time per page at the 95th percentile under 20 concurrent staff,
against the time the same page spent waiting on the API calls it makes, in the same run.

    .venv/bin/python bench/console_pages.py [--staff 20] [--rounds 15]

The platform runs as the run command starts it (processes on loopback, the demo school of
scripts/demo.py; SQLite, or PostgreSQL when TEST_DATABASE_URL is set). Each of `--staff` browsers
(an httpx client with its own cookie jar) signs in as the demo teacher (OIDC, through identity's
sign-in page) and opens every page in turn, `--rounds` times. Each page answers with
`Server-Timing: total;dur=, api;dur=`: the console's whole time, and the part of it spent in the
API calls (through the gateway, with the person's token). The console's overhead: total / api at
p95, and total - api.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.console.conftest import read_credentials  # noqa: E402
from tests.platform import start_platform  # noqa: E402

PAGES = {
    "start": "/",
    "report a concern": "/concerns/new",
    "people search": "/concerns/new",  # POST action=search (below)
    "phones": "/phones",
    "group photo": "/photos/group?year_group=3&purpose=website&media_type=photo",
}
TIMING = re.compile(r"(\w+);dur=([\d.]+)")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def staff(
    base: str, username: str, password: str, rounds: int, out: dict[str, list[tuple[float, float]]]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=True) as client:
        # OIDC: the console sends the client to identity's sign-in page, which comes back with a code.
        page = await client.get("/sign-in")
        form = dict(re.findall(r'name="(csrf_token|r)" value="([^"]*)"', page.text))
        signed = await client.post(
            str(page.url).split("?")[0], data={**form, "username": username, "password": password}
        )
        signed.raise_for_status()
        assert "Signed in as" in signed.text, signed.url
        csrf = signed.text.split('name="csrf_token" value="')[1].split('"')[0]
        for _ in range(rounds):
            for name, path in PAGES.items():
                if name == "people search":
                    response = await client.post(
                        path, data={"csrf_token": csrf, "action": "search", "q": "a"}
                    )
                else:
                    response = await client.get(path)
                response.raise_for_status()
                timing = dict(TIMING.findall(response.headers["server-timing"]))
                out[name].append((float(timing["total"]), float(timing["api"])))


async def run(
    base: str, username: str, password: str, n_staff: int, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in PAGES}
    await asyncio.gather(*(staff(base, username, password, rounds, out) for _ in range(n_staff)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    from scripts import demo

    with tempfile.TemporaryDirectory() as tmp:
        runner, _ = start_platform(Path(tmp))
        try:
            accounts = read_credentials(demo.seed(runner))
            teacher = accounts["teacher"]
            started = time.perf_counter()
            out = asyncio.run(
                run(runner.url("gateway"), teacher.username, teacher.password, args.staff, args.rounds)
            )
            elapsed = time.perf_counter() - started
        finally:
            runner.stop()
    rows = []
    print(f"{args.staff} staff, {args.rounds} rounds, {elapsed:.1f} s")
    print("| page | requests | p95 page ms | p95 API ms | p95 ratio page/API | median console's own ms |")
    print("|---|---|---|---|---|---|")
    for name, samples in out.items():
        totals = [t for t, _ in samples]
        apis = [a for _, a in samples]
        own = statistics.median(t - a for t, a in samples)
        ratio = p95(totals) / p95(apis) if p95(apis) else float("inf")
        rows.append(
            {"page": name, "n": len(samples), "p95_total": p95(totals), "p95_api": p95(apis), "ratio": ratio}
        )
        print(f"| {name} | {len(samples)} | {p95(totals):.1f} | {p95(apis):.1f} | {ratio:.2f} | {own:.1f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
