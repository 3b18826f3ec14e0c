"""`manage.py backup` and `restore` (servicekit.backup): a running platform is backed up, restored into
empty databases and key folders, and gives back every record and every audit entry; a consent
receipt issued before the backup verifies with the restored service's published keys, and a token
signed before it by identity's key is still accepted. On SQLite (the embedded default) and on
PostgreSQL (pg_dump/pg_restore). The attacks: a wrong passphrase, an altered or cut file, a restore
over live data are refused and change nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import make_url

from scripts import ops
from servicekit.backup import BackupError, Target, backup, restore, table_counts
from servicekit.db import sync_url
from servicekit.platform import PlatformRunner, PlatformSecrets
from servicekit.testing import drop_test_database, free_port, fresh_database_url
from tests.media_consent.test_gateway_consent import check, consented_pupil
from tests.platform import RunningPlatform, start_platform

PASSPHRASE = "correct horse battery staple, twice"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_reachable(url: str) -> bool:
    """Whether the server answers (its `postgres` database: TEST_DATABASE_URL names a base name the
    test sessions make their databases from, not a database that exists)."""
    server = make_url(sync_url(url)).set(database="postgres")
    engine = create_engine(server, poolclass=pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgresql":
        base = os.environ.get("TEST_DATABASE_URL") or PG_BASE
        # Skipped on a developer's machine without them; in CI the PostgreSQL round trip must run.
        missing = None if _pg_reachable(base) else "PostgreSQL is not reachable"
        if missing is None and shutil.which("pg_dump") is None:
            missing = "pg_dump is not installed"
        if missing is not None:
            (pytest.fail if os.environ.get("CI") else pytest.skip)(missing)
        monkeypatch.setenv("TEST_DATABASE_URL", base)
    else:
        monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    return str(request.param)


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order (what a restore must give back)."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            out = {}
            for table in sorted(inspect(conn).get_table_names()):
                # A follower notes when it last polled identity's feed, even when nothing was new.
                columns = "name, cursor" if table == "follower_state" else "*"
                found = conn.execute(text(f'SELECT {columns} FROM "{table}"')).all()
                out[table] = sorted((tuple(r) for r in found), key=repr)
            return out
    finally:
        engine.dispose()


def keys_dir(var_dir: Path, name: str) -> Path:
    return var_dir / ("keys" if name == "identity" else f"keys-{name}")


@pytest.mark.processes
def test_a_restored_platform_has_every_record_and_its_receipts_verify(backend: str, tmp_path: Path) -> None:
    live_dir, restored_dir = tmp_path / "live", tmp_path / "restored"
    live_dir.mkdir()
    restored_dir.mkdir()
    runner, tokens = start_platform(live_dir)
    restored_urls: dict[str, str] = {}
    restored_runner: PlatformRunner | None = None
    try:
        with httpx.Client(base_url=runner.url("gateway"), timeout=30) as gateway:
            platform = RunningPlatform(runner, tokens, gateway)
            school = platform.new_school()
            pupil, _carer = consented_pupil(platform, school)
            receipt = check(platform, school, [pupil])["receipt"]
            incident = gateway.post(
                "/v1/incidents",
                json={
                    "category": "cyberbullying",
                    "severity": "medium",
                    "occurred_at": "2026-09-10T10:00:00Z",
                    "location": "on_site",
                    "summary": "Unkind messages in a class chat",
                    "people": [{"person_id": pupil["id"], "role": "affected"}],
                },
                headers=school.headers("teacher"),
            )
            assert incident.status_code == 201, incident.text
            headers = school.headers("office")
            before_jwks = gateway.get("/v1/media-consent/.well-known/jwks.json").json()

            runner.sync_replicas()  # every follower caught up: nothing changes after the backup
            # An online backup: the platform keeps running while it is taken.
            live = [
                Target(s.name, runner.database_urls[s.name], keys_dir(live_dir, s.name))
                for s in runner.spec.services
            ]
            folder = backup(live, tmp_path / "backups", PASSPHRASE)
        runner.stop()
        manifest = json.loads((folder / "backup.json").read_text())
        assert {s["name"]: s["backend"] for s in manifest["services"]} == {
            s.name: backend for s in runner.spec.services
        }
        assert {s["name"] for s in manifest["services"] if "keys_file" in s} == {"identity", "media_consent"}
        # Nothing in the backup is readable without the passphrase.
        for path in folder.iterdir():
            if path.suffix == ".enc":
                assert b"PRIVATE KEY" not in path.read_bytes() and b"SQLite format" not in path.read_bytes()

        restored_urls = {s.name: fresh_database_url(s.name, restored_dir) for s in runner.spec.services}
        targets = [Target(name, url, keys_dir(restored_dir, name)) for name, url in restored_urls.items()]
        counts = restore(folder, targets, PASSPHRASE)

        for service in runner.spec.services:
            original, restored = rows(runner.database_urls[service.name]), rows(restored_urls[service.name])
            assert restored == original, service.name
            assert counts[service.name] == {t: len(r) for t, r in original.items()}
        assert rows(restored_urls["media_consent"])["consent_check"]
        assert rows(restored_urls["incidents"])["audit_entry"]

        # The restored services: the receipt verifies with the keys they publish, and a token identity
        # signed before the backup is accepted (identity's keys came back too).
        shutil.copy(live_dir / "platform-secrets.json", restored_dir / "platform-secrets.json")
        restored_runner = PlatformRunner(
            spec=runner.spec,
            var_dir=restored_dir,
            secrets=PlatformSecrets.load_or_create(
                restored_dir / "platform-secrets.json", runner.spec.services
            ),
            database_urls=restored_urls,
            # The same public address (the tokens' issuer) as before: the platform came back.
            ports={s.name: free_port() for s in runner.spec.services} | {"gateway": runner.port("gateway")},
            environment="test",
        )
        (restored_dir / "logs").mkdir()
        restored_runner.start_service("identity")
        restored_runner.start_service("media_consent")
        consent = restored_runner.url("media_consent")
        jwks = httpx.get(f"{consent}/v1/media-consent/.well-known/jwks.json", timeout=30).json()
        assert jwks == before_jwks
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(receipt)["kid"]]
        claims = jwt.decode(receipt, key.key, algorithms=["ES256"], options={"verify_aud": False})
        assert (claims["decision"], claims["pupil_ids"]) == ("allow", [pupil["id"]])
        listed = httpx.get(f"{consent}/v1/media-consent/checks", headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        assert claims["jti"] in {c["id"] for c in listed.json()["items"]}
    finally:
        if restored_runner is not None:
            restored_runner.stop()
        runner.stop()
        for url in [*runner.database_urls.values(), *restored_urls.values()]:
            drop_test_database(url)


# --- refusals (on small SQLite databases: fast) --------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> tuple[Target, Path]:
    db = tmp_path / "svc.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE audit_entry (id INTEGER PRIMARY KEY, action TEXT)")
        conn.executemany("INSERT INTO audit_entry (action) VALUES (?)", [(f"a{i}",) for i in range(50)])
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "keys.json").write_text('{"active": "k1", "keys": []}')
    (keys / "k1.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    target = Target("svc", f"sqlite+aiosqlite:///{db}", keys)
    return target, backup([target], tmp_path / "backups", PASSPHRASE)


def test_a_wrong_passphrase_restores_nothing(small: tuple[Target, Path], tmp_path: Path) -> None:
    _target, folder = small
    into = Target("svc", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", tmp_path / "new-keys")
    with pytest.raises(BackupError, match="not the passphrase"):
        restore(folder, [into], "a guessed passphrase, wrong")
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "new-keys").exists()
    assert restore(folder, [into], PASSPHRASE) == {"svc": {"audit_entry": 50}}
    assert (tmp_path / "new-keys" / "k1.pem").stat().st_mode & 0o077 == 0


def test_a_restore_never_overwrites_live_data(small: tuple[Target, Path], tmp_path: Path) -> None:
    target, folder = small
    with pytest.raises(BackupError, match="not empty"):
        restore(folder, [target], PASSPHRASE)
    assert table_counts(target.database_url) == {"audit_entry": 50}
    other = Target("svc", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", target.keys_dir)
    with pytest.raises(BackupError, match="key folder"):
        restore(folder, [other], PASSPHRASE)
    assert target.keys_dir is not None
    assert (target.keys_dir / "k1.pem").read_text().startswith("-----BEGIN")


@pytest.mark.parametrize("damage", ["flip", "cut", "swap"])
def test_an_altered_backup_is_refused(small: tuple[Target, Path], tmp_path: Path, damage: str) -> None:
    _target, folder = small
    database, keys = folder / "svc.db.enc", folder / "svc.keys.enc"
    data = bytearray(database.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
        database.write_bytes(bytes(data))
    elif damage == "cut":
        database.write_bytes(bytes(data[:-10]))
    else:  # the keys' file put where the database's goes: bound to its name, it does not decrypt
        database.write_bytes(keys.read_bytes())
    into = Target("svc", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", tmp_path / "new-keys")
    with pytest.raises(BackupError):
        restore(folder, [into], PASSPHRASE)


def test_a_short_passphrase_is_refused(small: tuple[Target, Path], tmp_path: Path) -> None:
    target, _folder = small
    with pytest.raises(BackupError, match="at least"):
        backup([target], tmp_path / "more", "short")


def test_the_command_backs_up_and_restores_what_the_environment_names(tmp_path: Path, capsys: Any) -> None:
    """`manage.py backup`/`restore` take each service's <PREFIX>DATABASE_URL and <PREFIX>KEYS_DIR."""
    db = tmp_path / "incidents.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE incident (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO incident DEFAULT VALUES")
    env = {"INCIDENTS_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "BACKUP_PASSPHRASE": PASSPHRASE}
    assert ops.main("backup", ["--only", "incidents", "--out", str(tmp_path / "b")], env) == 0
    (folder,) = (tmp_path / "b").iterdir()
    assert (
        ops.main(
            "backup", ["--only", "incidents", "--out", str(tmp_path / "c")], {**env, "BACKUP_PASSPHRASE": ""}
        )
        == 1
    )
    assert "BACKUP_PASSPHRASE" in capsys.readouterr().err
    env["INCIDENTS_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"
    assert ops.main("restore", [str(folder), "--only", "incidents"], env) == 0
    assert "Restored incidents: 1 rows in 1 tables" in capsys.readouterr().out
