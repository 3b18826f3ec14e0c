"""The gateway against direct access, from one run: throughput and p50/p99 as ratios, the gateway's
CPU per request (from /proc/<pid>/stat), the latency it adds at one connection, and its memory
(RSS from /proc) while it streams a 100 MB response. `--transports` adds the forwarding path alone
on httpx, on aiohttp and on the gateway's own client (bench/gateway_transports.py).

    flock /tmp/esafety-bench.lock .venv/bin/python bench/gateway_throughput.py \
        [--seconds 5] [--rounds 3] [--connections 32] [--transports] \
        [--generator wrk|python] [--backend fastapi|asgi]

Aims (the gateway issue): >= 0.6 of direct throughput; <= 0.35 ms gateway CPU per request;
<= 0.5 ms added at p50 with one connection; RSS flat while streaming. Absolute numbers drift
between runs on a shared machine; the ratios, taken in the same run with phases interleaved, are
what to read.

What is compared: the same endpoint, `GET /v1/bench/hello`, direct and through the gateway. By
default the backend is a FastAPI app shaped like the platform's services (an `async def` endpoint
returning a model: bench/gateway_backend.py); `--backend asgi` puts a bare ASGI callable there
instead, which answers in a fraction of the time any proxy needs, so it shows the gateway's cost
against the ceiling rather than against a service.

The load generator: wrk (`-t1`, as PERFORMANCE.md measured), which costs the two cores little;
the script installs Debian's wrk with apt-get when it is missing and it runs as root. Without it
(`--generator python`) an asyncio/aiohttp client in this process drives the load: it needs about
as much CPU per request as the gateway, on the same two cores, which pulls every ratio down.
Both servers run as the gateway is deployed (uvicorn, uvloop, httptools, no access log), and the
gateway at its production log level (INFO, access log `problems`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "servicekit" / "src"), str(ROOT / "gateway" / "src")]

from servicekit.testing import TokenFactory, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def start(app: str, port: int, env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            *extra,
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:3]), **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start; see {log}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _one_request(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes | None
) -> None:
    """A GET, or a POST of `body`; anything but a 200 stops the run."""
    request = (
        session.get(url, headers=headers) if body is None else session.post(url, data=body, headers=headers)
    )
    async with request as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")


async def load(
    url: str, headers: dict[str, str], seconds: float, connections: int, body: bytes | None = None
) -> list[float]:
    """Closed-loop load: `connections` clients each send the next request when the last returns
    (a GET, or a POST of `body` as JSON)."""
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                await _one_request(session, url, headers, body)
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


async def paced(
    url: str,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
    body: bytes | None = None,
) -> list[float]:
    """Open-loop load: requests start at `rate` per second whatever the answers do, over at most
    `connections` connections. Each latency counts from when its request was due, so a request that
    waited for a free connection is not flattered (no coordinated omission)."""
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(due: float) -> None:
            await _one_request(session, url, headers, body)
            latencies.append(time.perf_counter() - due)

        start_at = time.perf_counter()
        tasks = []
        for n in range(int(rate * seconds)):
            due = start_at + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def stream_memory(url: str, headers: dict[str, str], pid: int, size: int) -> tuple[float, float, int]:
    before = rss_mb(pid)
    peak = before
    received = 0
    next_sample = 0
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{url}?size={size}", headers=headers) as response,
    ):
        async for chunk in response.content.iter_chunked(1 << 20):
            received += len(chunk)
            if received >= next_sample:
                peak = max(peak, rss_mb(pid))
                next_sample += 5 << 20
    return before, peak, received


def ensure_wrk() -> str | None:
    """wrk's path; installed from Debian's packages when missing and this runs as root."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, check=False)
        found = shutil.which("wrk")
    return found


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    generator_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {label} in wrk's output:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Generator:
    """Closed-loop load: `connections` clients, each sending its next request when the last returns."""

    def __init__(self, wrk: str | None) -> None:
        self.wrk = wrk

    @property
    def name(self) -> str:
        return "wrk -t1" if self.wrk else "python (aiohttp, in this process)"

    async def run(
        self,
        url: str,
        headers: dict[str, str],
        seconds: float,
        connections: int,
        body: bytes | None = None,
    ) -> Run:
        """GET `url`, or POST `body` (JSON) to it when given."""
        if self.wrk:
            return await asyncio.to_thread(self._wrk, url, headers, seconds, connections, body)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        latencies = await load(url, headers, seconds, connections, body)
        elapsed = time.perf_counter() - t0
        return Run(
            len(latencies), elapsed, pct(latencies, 0.5), pct(latencies, 0.99), time.process_time() - cpu0
        )

    def _wrk(
        self, url: str, headers: dict[str, str], seconds: float, connections: int, body: bytes | None
    ) -> Run:
        assert self.wrk is not None
        command = [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        if body is not None:
            script = Path(tempfile.mkstemp(prefix="wrk-", suffix=".lua")[1])
            # A Lua long string holds the JSON as it is (it has no "]]").
            script.write_text(
                f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = [[{body.decode()}]]\n"
            )
            command += ["-s", str(script)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"{url}: errors under load:\n{out}")
        match = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        elapsed = float(match.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(3)]
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return Run(int(match.group(1)), elapsed, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"), cpu)


async def compare(
    gen: Generator,
    name: str,
    target_url: str,
    direct_url: str,
    headers: dict[str, str],
    pid: int,
    args: argparse.Namespace,
    backend_pid: int,
) -> None:
    """Direct, then through, in every round; totals over the rounds."""
    direct: list[Run] = []
    through: list[Run] = []
    proxy_cpu = backend_direct = backend_through = 0.0
    await gen.run(target_url, headers, 1.0, args.connections)  # warm up pools and caches
    await gen.run(direct_url, headers, 1.0, args.connections)
    for _ in range(args.rounds):
        b0 = cpu_seconds(backend_pid)
        direct.append(await gen.run(direct_url, headers, args.seconds, args.connections))
        backend_direct += cpu_seconds(backend_pid) - b0
        c0, b0 = cpu_seconds(pid), cpu_seconds(backend_pid)
        through.append(await gen.run(target_url, headers, args.seconds, args.connections))
        proxy_cpu += cpu_seconds(pid) - c0
        backend_through += cpu_seconds(backend_pid) - b0
    d_n, t_n = sum(r.requests for r in direct), sum(r.requests for r in through)
    d_rps = d_n / sum(r.seconds for r in direct)
    t_rps = t_n / sum(r.seconds for r in through)
    print(f"\n== {name} ({args.connections} connections, {args.rounds}x{args.seconds}s interleaved)")
    for label, runs, rps in (("direct ", direct, d_rps), ("through", through, t_rps)):
        print(
            f"{label}  {rps:8.0f} req/s  p50 {statistics.median(r.p50_ms for r in runs):6.2f} ms"
            f"  p99 {statistics.median(r.p99_ms for r in runs):6.2f} ms  (medians of the rounds)"
        )
    print(
        f"throughput ratio (through/direct): {t_rps / d_rps:.2f}   (aim >= 0.6 for the gateway)"
        f"   per round: {', '.join(f'{t.rate / d.rate:.2f}' for d, t in zip(direct, through, strict=True))}"
    )
    print(f"proxy CPU per request: {proxy_cpu / t_n * 1000:.3f} ms   (aim <= 0.35 for the gateway)")
    print(
        "CPU ms per request, direct / through:"
        f" generator {sum(r.generator_cpu for r in direct) / d_n * 1000:.3f}"
        f" / {sum(r.generator_cpu for r in through) / t_n * 1000:.3f},"
        f" backend {backend_direct / d_n * 1000:.3f} / {backend_through / t_n * 1000:.3f}"
    )


async def one_connection(
    gen: Generator, gateway_url: str, direct_url: str, headers: dict[str, str], seconds: float
) -> None:
    direct, through = [], []
    for _ in range(2):
        direct.append(await gen.run(direct_url, headers, seconds, 1))
        through.append(await gen.run(gateway_url, headers, seconds, 1))
    d50 = statistics.median(r.p50_ms for r in direct)
    t50 = statistics.median(r.p50_ms for r in through)
    print(f"\n== one connection, 2x{seconds}s each way")
    print(f"p50 direct {d50:.3f} ms, through {t50:.3f} ms, added {t50 - d50:.3f} ms   (aim <= 0.5)")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--stream-mb", type=int, default=100)
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    parser.add_argument("--backend", choices=["fastapi", "asgi"], default="fastapi")
    parser.add_argument("--transports", action="store_true", help="also the minimal proxies on each client")
    args = parser.parse_args()

    gen = Generator(ensure_wrk() if args.generator == "wrk" else None)
    if args.generator == "wrk" and gen.wrk is None:
        print("wrk is not installed and could not be: using the Python generator")
    print(f"generator: {gen.name}; backend: {args.backend}")
    # The in-process generator's own full collections would stall every request in flight.
    gc.collect()
    gc.freeze()
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    tokens = TokenFactory()
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps({"keys": tokens.jwks()}))
    headers = tokens.headers(client_id="bench", scopes=["incidents:export"])
    bport, gport = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{bport}"
    factory = "bench.gateway_backend:" + ("create_app" if args.backend == "fastapi" else "create_asgi_app")
    procs = [start(factory, bport, {"BENCH_JWKS_FILE": str(jwks)}, tmp / "backend.log")]
    try:
        gateway = start(
            "gateway.main:create_app",
            gport,
            {
                "GATEWAY_UPSTREAMS": json.dumps(
                    [{"name": "bench", "url": backend_url, "prefixes": ["/v1/bench", "/.well-known"]}]
                ),
                "PLATFORM_JWKS_URL": f"{backend_url}/.well-known/jwks.json",
                "GATEWAY_LOG_LEVEL": "INFO",  # as deployed; the access log's default mode is in
                "GATEWAY_RATE_LIMIT_PER_CLIENT": "1000000000",  # counted (its cost is in), never limiting
            },
            tmp / "gateway.log",
            "--no-proxy-headers",
        )
        procs.append(gateway)
        gateway_url = f"http://127.0.0.1:{gport}"
        path = "/v1/bench/hello"
        backend_pid = procs[0].pid
        await compare(
            gen,
            "gateway vs direct",
            gateway_url + path,
            backend_url + path,
            headers,
            gateway.pid,
            args,
            backend_pid,
        )
        await one_connection(gen, gateway_url + path, backend_url + path, headers, min(args.seconds, 3.0))

        size = args.stream_mb << 20
        before, peak, received = await stream_memory(
            gateway_url + "/v1/bench/big", headers, gateway.pid, size
        )
        print(f"\n== streaming {received >> 20} MB through the gateway")
        print(
            f"gateway RSS before {before:.1f} MB, peak while streaming {peak:.1f} MB,"
            f" growth {peak - before:.1f} MB"
            f" ({(peak - before) / max(1, received >> 20):.3f} MB per MB streamed)"
        )

        if args.transports:
            for name, factory in (
                ("httpx", "bench.gateway_transports:httpx_app"),
                ("aiohttp", "bench.gateway_transports:aiohttp_app"),
                ("the gateway's client", "bench.gateway_transports:upstream_app"),
            ):
                port = free_port()
                proc = start(factory, port, {"BENCH_UPSTREAM": backend_url}, tmp / f"{port}.log")
                procs.append(proc)
                await compare(
                    gen,
                    f"minimal ASGI proxy on {name}",
                    f"http://127.0.0.1:{port}{path}",
                    backend_url + path,
                    headers,
                    proc.pid,
                    args,
                    backend_pid,
                )
                proc.terminate()
                proc.wait()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
