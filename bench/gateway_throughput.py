"""The gateway against direct access, from one run: throughput and p50/p99 as ratios, the gateway's
CPU per request (from /proc/<pid>/stat), the latency it adds at one connection, and its memory
(RSS from /proc) while it streams a 100 MB response. `--transports` adds the forwarding path alone
on httpx and on aiohttp (bench/gateway_transports.py).

    .venv/bin/python bench/gateway_throughput.py [--seconds 5] [--rounds 2] [--connections 32] [--transports]

Aims (PERFORMANCE.md): >= 0.6 of direct throughput; <= 0.35 ms gateway CPU per request; <= 0.5 ms
added at p50 with one connection; RSS flat while streaming. Absolute numbers drift between runs
on a shared machine; the ratios, taken in the same run with phases interleaved, are what to read.

Fairness: direct and through use the same generator (an asyncio/aiohttp client in this process),
the same connection count, the same backend endpoint, and alternate round by round. Both servers
run as the gateway is deployed (uvicorn, uvloop, httptools, no access log), and the gateway at its
production log level (INFO, access log `problems`). The generator is Python and needs CPU too: on
a 2-core machine it competes with the gateway and the backend, so the CPU each of the three spends
per request is printed with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def process_cpu() -> float:
    return time.process_time()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(url: str, headers: dict[str, str], seconds: float, connections: int) -> list[float]:
    """Closed-loop load: `connections` clients each send the next request when the last returns."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url}: {response.status}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
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


async def compare(
    name: str,
    target_url: str,
    direct_url: str,
    headers: dict[str, str],
    pid: int | None,
    args: argparse.Namespace,
    backend_pid: int,
) -> None:
    direct: list[float] = []
    through: list[float] = []
    direct_time = through_time = 0.0
    cpu = backend_direct = backend_through = gen_direct = gen_through = 0.0
    ratios: list[float] = []
    await load(target_url, headers, 1.0, args.connections)  # warm up pools and caches
    await load(direct_url, headers, 1.0, args.connections)
    for _ in range(args.rounds):
        b0, g0, t0 = cpu_seconds(backend_pid), process_cpu(), time.perf_counter()
        batch = await load(direct_url, headers, args.seconds, args.connections)
        elapsed = time.perf_counter() - t0
        backend_direct += cpu_seconds(backend_pid) - b0
        gen_direct += process_cpu() - g0
        direct += batch
        direct_time += elapsed
        round_direct = len(batch) / elapsed
        c0 = cpu_seconds(pid) if pid else 0.0
        b0, g0, t0 = cpu_seconds(backend_pid), process_cpu(), time.perf_counter()
        batch = await load(target_url, headers, args.seconds, args.connections)
        elapsed = time.perf_counter() - t0
        backend_through += cpu_seconds(backend_pid) - b0
        gen_through += process_cpu() - g0
        cpu += (cpu_seconds(pid) - c0) if pid else 0.0
        through += batch
        through_time += elapsed
        ratios.append(len(batch) / elapsed / round_direct)
    d_rps, t_rps = len(direct) / direct_time, len(through) / through_time
    print(f"\n== {name} ({args.connections} connections, {args.rounds}x{args.seconds}s interleaved)")
    print(f"direct   {d_rps:8.0f} req/s  p50 {pct(direct, 0.5):6.2f} ms  p99 {pct(direct, 0.99):6.2f} ms")
    print(f"through  {t_rps:8.0f} req/s  p50 {pct(through, 0.5):6.2f} ms  p99 {pct(through, 0.99):6.2f} ms")
    print(
        f"throughput ratio (through/direct): {t_rps / d_rps:.2f}   (aim >= 0.6 for the gateway)"
        f"   per round: {', '.join(f'{r:.2f}' for r in ratios)}"
    )
    if pid:
        print(f"proxy CPU per request: {cpu / len(through) * 1000:.3f} ms   (aim <= 0.35)")
    print(
        "CPU ms per request, direct / through:"
        f" generator {gen_direct / len(direct) * 1000:.3f} / {gen_through / len(through) * 1000:.3f},"
        f" backend {backend_direct / len(direct) * 1000:.3f} / {backend_through / len(through) * 1000:.3f}"
    )


async def one_connection(gateway_url: str, direct_url: str, headers: dict[str, str], n: int) -> None:
    async def run(url: str) -> list[float]:
        out = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            for _ in range(n):
                t0 = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                out.append(time.perf_counter() - t0)
        return out

    direct, through = [], []
    for _ in range(2):
        direct += await run(direct_url)
        through += await run(gateway_url)
    added = statistics.median(through) * 1000 - statistics.median(direct) * 1000
    print(f"\n== one connection, {2 * n} sequential requests each way")
    print(
        f"p50 direct {statistics.median(direct) * 1000:.3f} ms,"
        f" through {statistics.median(through) * 1000:.3f} ms,"
        f" added {added:.3f} ms   (aim <= 0.5)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--stream-mb", type=int, default=100)
    parser.add_argument("--transports", action="store_true", help="also compare httpx and aiohttp proxies")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    tokens = TokenFactory()
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps({"keys": tokens.jwks()}))
    headers = tokens.headers(client_id="bench", scopes=["incidents:export"])
    bport, gport = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{bport}"
    procs = [
        start("bench.gateway_backend:create_app", bport, {"BENCH_JWKS_FILE": str(jwks)}, tmp / "backend.log")
    ]
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
            "gateway vs direct",
            gateway_url + path,
            backend_url + path,
            headers,
            gateway.pid,
            args,
            backend_pid,
        )
        await one_connection(gateway_url + path, backend_url + path, headers, 1000)

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
            ):
                port = free_port()
                proc = start(factory, port, {"BENCH_UPSTREAM": backend_url}, tmp / f"{name}.log")
                procs.append(proc)
                await compare(
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
