"""Identity tokens benchmark: prints ratios measured in one run (absolute figures drift between runs).

1. Client-credentials tokens per second from identity on loopback (uvicorn, one worker), against a
   bare FastAPI endpoint in the same kind of process, same client, same concurrency.
2. servicekit's verification cost of a new token (signature and claims) vs a cached one (the
   verifier's cache), against a bare FastAPI request handled in-process.

    .venv/bin/python bench/identity_tokens.py [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from servicekit.auth import TokenVerifier
from servicekit.clock import SystemClock
from servicekit.jwt import VerificationKey
from servicekit.keystore import KeyStore
from servicekit.migrations import upgrade
from servicekit.testing import ServiceProcess, TokenFactory, free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-client-secret-value"


async def _rate(url: str, seconds: float, concurrency: int, *, auth: tuple[str, str] | None) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.post(
                    url, data={"grant_type": "client_credentials"}, auth=auth or httpx.USE_CLIENT_DEFAULT
                )
                response.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def _verify_costs(rounds: int) -> tuple[float, float, float]:
    """Mean µs: verify a new token, verify a cached one, serve a bare FastAPI request in-process."""
    factory = TokenFactory()
    # Keys parsed once, as identity's StoreKeySource and the JWKS source do.
    keys = {jwk["kid"]: VerificationKey(jwk) for jwk in factory.jwks()}

    class Loaded:
        async def get(self, kid: str) -> VerificationKey | None:
            return keys.get(kid)

    verifier = TokenVerifier(Loaded(), issuer=factory.issuer, audience=factory.audience)
    tokens = [factory.token(scopes=["people:read"]) for _ in range(rounds)]
    started = time.perf_counter()
    for token in tokens:
        await verifier.verify(token)
    new = (time.perf_counter() - started) / rounds * 1e6
    started = time.perf_counter()
    for _ in range(5):
        for token in tokens:
            await verifier.verify(token)
    cached = (time.perf_counter() - started) / (rounds * 5) * 1e6

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.get("/hello")
        started = time.perf_counter()
        for _ in range(rounds):
            await client.get("/hello")
        bare = (time.perf_counter() - started) / rounds * 1e6
    return new, cached, bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite+aiosqlite:///{tmp / 'identity.db'}"
        upgrade(ROOT / "services" / "identity", url)
        keys = tmp / "keys"
        KeyStore(keys, SystemClock()).ensure()
        env = {
            "IDENTITY_DATABASE_URL": url,
            "IDENTITY_KEYS_DIR": str(keys),
            "IDENTITY_SERVICE_CLIENTS": (
                f'[{{"client_id": "bench", "client_secret": "{SECRET}", "scopes": ["identity:feed"]}}]'
            ),
            "IDENTITY_LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "test",
        }
        bench_module = tmp / "bare_bench_app.py"
        bench_module.write_text(
            "from fastapi import FastAPI\n"
            "def create_app():\n"
            "    app = FastAPI()\n"
            "    @app.get('/livez')\n"
            "    async def livez() -> dict:\n"
            "        return {'status': 'ok'}\n"
            "    @app.post('/oauth/token')\n"
            "    async def token() -> dict:\n"
            "        return {'access_token': 'x', 'token_type': 'Bearer'}\n"
            "    return app\n"
        )
        identity = ServiceProcess(
            "identity", "identity.main:create_app", free_port(), env, tmp / "identity.log"
        )
        bare = ServiceProcess(
            "bare",
            "bare_bench_app:create_app",
            free_port(),
            {"PYTHONPATH": f"{tmp}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
            tmp / "bare.log",
        )
        identity.start()
        bare.start()
        try:
            # Warm both, then interleave two rounds each so drift hits both alike.
            asyncio.run(_rate(identity.url + "/oauth/token", 1, 4, auth=("bench", SECRET)))
            asyncio.run(_rate(bare.url + "/oauth/token", 1, 4, auth=None))
            ids, bares = [], []
            for _ in range(2):
                ids.append(
                    asyncio.run(
                        _rate(
                            identity.url + "/oauth/token",
                            args.seconds / 2,
                            args.concurrency,
                            auth=("bench", SECRET),
                        )
                    )
                )
                bares.append(
                    asyncio.run(
                        _rate(bare.url + "/oauth/token", args.seconds / 2, args.concurrency, auth=None)
                    )
                )
        finally:
            identity.stop()
            bare.stop()
    id_rate, bare_rate = sum(ids) / len(ids), sum(bares) / len(bares)
    new, cached, bare_us = asyncio.run(_verify_costs(2000))
    print(
        f"client-credentials tokens/s: {id_rate:,.0f}  bare FastAPI POST/s: {bare_rate:,.0f}  "
        f"ratio {id_rate / bare_rate:.2f}"
    )
    print(
        f"verify new token: {new:,.0f} µs  cached: {cached:,.1f} µs  "
        f"bare in-process request: {bare_us:,.0f} µs"
    )
    print(
        f"ratios: new/bare {new / bare_us:.2f}  cached/bare {cached / bare_us:.3f}  "
        f"new/cached {new / cached:,.0f}x"
    )


if __name__ == "__main__":
    main()
