"""`python3 manage.py backup | restore | retention`: the operator's housekeeping commands.

    BACKUP_PASSPHRASE=... python3 manage.py backup [--out backups] [--only identity,media_consent]
    BACKUP_PASSPHRASE=... python3 manage.py restore backups/esafety-backup-<time>Z [--only ...]
    python3 manage.py retention [--on 2027-01-31] [--expire-idempotency]

Each service's database is `<PREFIX>DATABASE_URL` when set (PostgreSQL in production), else the
embedded default of `python3 manage.py run` (var/<name>.db); its key store is `<PREFIX>KEYS_DIR`,
else var/keys (identity) and var/keys-<name> (the others; media-consent keeps its receipt keys there).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from servicekit.backup import BackupError, Target, backup, restore
from servicekit.db import create_engine, make_sessionmaker
from servicekit.platform import load_spec
from servicekit.retention import DEFAULT_IDEMPOTENCY_TTL_HOURS, ServiceReport, service_report

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def targets(environ: Mapping[str, str] = os.environ, var_dir: Path = VAR, only: str = "") -> list[Target]:
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    out = []
    for service in load_spec(ROOT).services:
        if wanted and service.name not in wanted:
            continue
        url = (
            environ.get(f"{service.env_prefix}DATABASE_URL")
            or f"sqlite+aiosqlite:///{var_dir / (service.name + '.db')}"
        )
        default_keys = var_dir / ("keys" if service.name == "identity" else f"keys-{service.name}")
        keys = Path(environ.get(f"{service.env_prefix}KEYS_DIR") or default_keys)
        out.append(Target(service.name, url, keys))
    unknown = wanted - {t.name for t in out}
    if unknown:
        raise BackupError(f"no such service: {', '.join(sorted(unknown))}")
    return out


async def review(
    chosen: list[Target],
    *,
    on: date,
    environ: Mapping[str, str] = os.environ,
    expire_idempotency: bool = False,
) -> list[ServiceReport]:
    """Each service's records due for review on `on` (`<package>.retention.RULES`), holds left out."""
    specs = {s.name: s for s in load_spec(ROOT).services}
    reports = []
    for target in chosen:
        spec = specs[target.name]
        try:
            rules = importlib.import_module(f"{spec.package}.retention").RULES
        except ModuleNotFoundError:
            rules = []
        ttl = int(environ.get(f"{spec.env_prefix}IDEMPOTENCY_TTL_HOURS", DEFAULT_IDEMPOTENCY_TTL_HOURS))
        engine = create_engine(target.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                report = await service_report(
                    session,
                    target.name,
                    rules,
                    on=on,
                    now=datetime.now(UTC),
                    ttl_hours=ttl,
                    expire_idempotency=expire_idempotency,
                )
                await session.commit()
        finally:
            await engine.dispose()
        reports.append(report)
    return reports


def existing(chosen: list[Target]) -> list[Target]:
    """`chosen`, after checking that each SQLite database is there (else BackupError, naming it)."""
    missing = [
        t
        for t in chosen
        if t.database_url.startswith("sqlite") and not Path(t.database_url.split("///")[1]).exists()
    ]
    if missing:
        names = ", ".join(f"{t.name} ({t.database_url.split('///')[1]})" for t in missing)
        raise BackupError(
            f"no database for {names}: run `python3 manage.py run` once, or set <PREFIX>DATABASE_URL"
        )
    return chosen


def _passphrase(environ: Mapping[str, str]) -> str:
    passphrase = environ.get("BACKUP_PASSPHRASE", "")
    if not passphrase and environ.get("BACKUP_PASSPHRASE_FILE"):
        passphrase = Path(environ["BACKUP_PASSPHRASE_FILE"]).read_text().strip()
    if not passphrase:
        raise BackupError(
            "set BACKUP_PASSPHRASE (or BACKUP_PASSPHRASE_FILE): the key the backup is encrypted with"
        )
    return passphrase


def main(command: str, args: list[str], environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog=f"manage.py {command}")
    parser.add_argument("--only", default="", help="comma-separated services (default: all)")
    if command == "backup":
        parser.add_argument("--out", default=str(ROOT / "backups"), help="folder the backup goes in")
    elif command == "restore":
        parser.add_argument("folder", help="the backup's folder (esafety-backup-<time>Z)")
    else:
        parser.add_argument("--on", default="", help="the day of the review (default: today)")
        parser.add_argument(
            "--expire-idempotency", action="store_true", help="also delete expired idempotency records"
        )
        parser.add_argument("--json", action="store_true", help="the report as JSON")
    options = parser.parse_args(args)
    try:
        chosen = targets(environ, only=options.only)
        if command == "backup":
            folder = backup(existing(chosen), Path(options.out), _passphrase(environ))
            print(f"Backed up {', '.join(t.name for t in chosen)} to {folder}")
            return 0
        if command == "restore":
            counts = restore(Path(options.folder), chosen, _passphrase(environ))
            for name, tables in counts.items():
                print(f"Restored {name}: {sum(tables.values())} rows in {len(tables)} tables")
            return 0
        if command == "retention":
            existing(chosen)
    except BackupError as exc:
        print(f"manage.py {command}: {exc}", file=sys.stderr)
        return 1
    from servicekit.retention import render_report

    on = date.fromisoformat(options.on) if options.on else datetime.now(UTC).date()
    reports = asyncio.run(
        review(chosen, on=on, environ=environ, expire_idempotency=options.expire_idempotency)
    )
    if options.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print(render_report(reports, on=on))
    return 0
