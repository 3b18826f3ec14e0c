"""Pull the incident export into a CSV file, incrementally, for the local authority's reports.

    python -m incidents.la_cli --out incidents.csv            # credentials from the environment:
        LA_CLIENT_ID, LA_CLIENT_SECRET (the LA's OAuth client), LA_BASE_URL (the gateway)

Each run appends the incidents created or changed since the last run, one CSV row per change
(the newest row of an id is its latest state). The cursor is remembered in `<out>.state.json`
together with the length of the CSV at the end of the last complete page: a run that is
interrupted (Ctrl-C, network, a crash) is resumed by truncating the CSV back to that length and
pulling again from that cursor, so nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

EXPORT_PATH = "/v1/incidents/export"
TOKEN_PATH = "/oauth/token"
RETRYABLE = {429, 502, 503, 504}


class PullError(Exception):
    """The pull cannot go on (bad credentials, a state file that does not match the CSV, ...)."""


@dataclass
class State:
    cursor: str | None = None
    offset: int = 0
    rows: int = 0

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(cursor=data.get("cursor"), offset=int(data["offset"]), rows=int(data.get("rows", 0)))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as handle:
            json.dump({"cursor": self.cursor, "offset": self.offset, "rows": self.rows}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


class Progress:
    """A one-line progress bar on stderr: rows pulled this run out of what the service says is left."""

    def __init__(self, stream: TextIO | None, *, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = time.monotonic()

    def show(self, done: int, total: int) -> None:
        if self.stream is None:
            return
        total = max(total, done, 1)
        filled = int(self.width * done / total)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} rows {rate:,.0f} rows/s")
        self.stream.flush()

    def end(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


class Puller:
    def __init__(
        self,
        *,
        base_url: str,
        out: Path,
        state_path: Path | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        page_size: int = 5000,
        transport: httpx.AsyncBaseTransport | None = None,
        progress: Progress | None = None,
        retries: int = 5,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        if not token and not (client_id and client_secret):
            raise PullError("Give the LA client's id and secret (LA_CLIENT_ID, LA_CLIENT_SECRET) or a token.")
        self.base_url = base_url.rstrip("/")
        self.out = out
        self.state_path = state_path or out.with_name(out.name + ".state.json")
        self.client_id = client_id
        self.client_secret = client_secret
        self._token = token
        self._static_token = token is not None
        self.page_size = page_size
        self.transport = transport
        self.progress = progress or Progress(None)
        self.retries = retries
        self.sleep = sleep

    async def _access_token(self, client: httpx.AsyncClient) -> str:
        if self._token:
            return self._token
        response = await client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials", "scope": "incidents:export"},
            auth=(self.client_id or "", self.client_secret or ""),
        )
        if response.status_code != 200:
            raise PullError(f"The token endpoint refused the LA client ({response.status_code}).")
        self._token = str(response.json()["access_token"])
        return self._token

    def _prepare(self) -> State:
        state = State.load(self.state_path)
        size = self.out.stat().st_size if self.out.exists() else 0
        if size < state.offset:
            raise PullError(
                f"{self.out} is shorter than the state file says ({size} < {state.offset} bytes); "
                f"remove {self.state_path} to start again from the beginning."
            )
        if size > state.offset:
            # The end of an interrupted page: it is pulled again from the remembered cursor.
            with self.out.open("r+b") as handle:
                handle.truncate(state.offset)
        return state

    async def run(self) -> int:
        """Pull until the service says there is no more; return how many rows this run added."""
        state = self._prepare()
        added = 0
        async with httpx.AsyncClient(
            base_url=self.base_url, transport=self.transport, timeout=60.0
        ) as client:
            while True:
                rows, has_more, remaining = await self._page(client, state)
                added += rows
                self.progress.show(added, added + remaining)
                if not has_more:
                    self.progress.end()
                    return added

    async def _page(self, client: httpx.AsyncClient, state: State) -> tuple[int, bool, int]:
        params: dict[str, str | int] = {"format": "csv", "limit": self.page_size}
        if state.cursor:
            params["cursor"] = state.cursor
        for attempt in range(self.retries + 1):
            token = await self._access_token(client)
            try:
                async with client.stream(
                    "GET", EXPORT_PATH, params=params, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    if response.status_code == 401 and not self._static_token and attempt == 0:
                        self._token = None  # expired: sign in again once
                        continue
                    if response.status_code in RETRYABLE and attempt < self.retries:
                        wait = float(response.headers.get("Retry-After", 2**attempt))
                        await self.sleep(min(wait, 60.0))
                        continue
                    if response.status_code != 200:
                        body = (await response.aread()).decode(errors="replace")[:500]
                        raise PullError(f"The export answered {response.status_code}: {body}")
                    rows = await self._write(response, skip_header=state.offset > 0)
                    next_cursor = response.headers["X-Next-Cursor"]
                    has_more = response.headers.get("X-Has-More") == "true"
                    remaining = int(response.headers.get("X-Remaining", "0"))
            except httpx.TransportError:
                if attempt >= self.retries:
                    raise
                await self.sleep(min(2.0**attempt, 60.0))
                self._prepare_retry(state)
                continue
            state.cursor = next_cursor
            state.offset = self.out.stat().st_size
            state.rows += rows
            state.save(self.state_path)
            return rows, has_more, remaining
        raise PullError("The export kept failing; run again later (the pull resumes where it stopped).")

    def _prepare_retry(self, state: State) -> None:
        if self.out.exists() and self.out.stat().st_size > state.offset:
            with self.out.open("r+b") as handle:
                handle.truncate(state.offset)

    async def _write(self, response: httpx.Response, *, skip_header: bool) -> int:
        """Append the page's rows (and the header, to a new file); return how many incidents."""
        rows = 0
        pending = b""
        first = True
        with self.out.open("ab") as handle:
            async for chunk in response.aiter_bytes():
                pending += chunk
                lines = pending.split(b"\r\n")
                pending = lines.pop()
                for line in lines:
                    if first:
                        first = False
                        if not skip_header:
                            handle.write(line + b"\r\n")
                        continue
                    handle.write(line + b"\r\n")
                    rows += 1
            if pending:
                raise httpx.RemoteProtocolError("the export ended in the middle of a row")
            handle.flush()
            os.fsync(handle.fileno())
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incidents.la_cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to append to")
    parser.add_argument("--state", type=Path, help="where the cursor is kept (default <out>.state.json)")
    parser.add_argument("--base-url", default=os.environ.get("LA_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--client-id", default=os.environ.get("LA_CLIENT_ID"))
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        puller = Puller(
            base_url=args.base_url,
            out=args.out,
            state_path=args.state,
            client_id=args.client_id,
            # The secret only from the environment: command lines are visible to other users.
            client_secret=os.environ.get("LA_CLIENT_SECRET"),
            token=os.environ.get("LA_ACCESS_TOKEN"),
            page_size=args.page_size,
            progress=Progress(None if args.quiet else sys.stderr),
        )
        added = asyncio.run(puller.run())
    except PullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the next run resumes from the last complete page", file=sys.stderr)
        return 130
    except httpx.HTTPError as exc:
        print(
            f"error: {type(exc).__name__}: the next run resumes from the last complete page", file=sys.stderr
        )
        return 1
    print(f"{added} rows added to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
