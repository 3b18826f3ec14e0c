"""Backups of a service's database and signing keys, encrypted with a passphrase the operator holds.

    backup(targets, Path("backups"), passphrase)      -> backups/esafety-backup-<UTC time>/
    restore(Path("backups/esafety-backup-..."), targets, passphrase)

A backup is a folder: `backup.json` (what is in it, the key derivation's salt, and the row count
of every table at the moment of the backup) and, per service, `<name>.db.enc` (PostgreSQL:
`pg_dump --format=custom`; SQLite: a copy made with SQLite's online backup API) and
`<name>.keys.enc` (the key store folder, identity's token keys and media-consent's receipt keys,
as a tar). Every file is encrypted with AES-256-GCM in 1 MiB chunks under a key derived from the
passphrase with scrypt; each chunk is bound to its file, its position and whether it is the last,
so a swapped, cut or altered file is refused. Nothing is written unencrypted outside a private
temporary folder, and no plaintext dump is kept.

On PostgreSQL the row counts are read in the snapshot `pg_dump` dumps (`--snapshot`), so the
backup of a running service is consistent with its counts. A restore goes into an empty database
and an empty key folder only, then checks that every table holds the rows the backup counted.
The services' other secrets (IDENTITY_TOTP_KEY, INCIDENTS_PSEUDONYM_SECRET, the feed clients'
secrets) are the operator's, kept where they keep the passphrase: a backup does not hold them.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import URL, make_url

FORMAT = 1
CHUNK = 1 << 20
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1
MIN_PASSPHRASE = 16
CHECK_TEXT = b"esafety-platform backup"


class BackupError(RuntimeError):
    """The backup or restore cannot go on (the message says why); nothing was restored."""


@dataclass(frozen=True)
class Target:
    """One service's state: its database and, for identity and media-consent, its key store."""

    name: str
    database_url: str
    keys_dir: Path | None = None


# --- encryption --------------------------------------------------------------------------------


def _derive(passphrase: str, salt: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the backup passphrase must be at least {MIN_PASSPHRASE} characters")
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())


def _aad(name: str, index: int, last: bool) -> bytes:
    return name.encode() + struct.pack(">QB", index, last)


def encrypt_stream(key: bytes, name: str, source: IO[bytes], target: IO[bytes]) -> None:
    """`source` to `target` as chunks of [nonce (12) | length (4) | ciphertext+tag], bound to `name`."""
    aead = AESGCM(key)
    index = 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK) if chunk else b""
        last = not following
        nonce = secrets.token_bytes(12)
        sealed = aead.encrypt(nonce, chunk, _aad(name, index, last))
        target.write(nonce + struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        chunk, index = following, index + 1


def decrypt_stream(key: bytes, name: str, source: IO[bytes], target: IO[bytes]) -> None:
    aead = AESGCM(key)
    index = 0
    while True:
        head = source.read(16)
        if len(head) != 16:
            raise BackupError(f"{name} is cut short")
        (length,) = struct.unpack(">I", head[12:])
        sealed = source.read(length)
        if len(sealed) != length:
            raise BackupError(f"{name} is cut short")
        for last in (False, True):
            try:
                plain = aead.decrypt(head[:12], sealed, _aad(name, index, last))
            except InvalidTag:
                continue
            target.write(plain)
            if last:
                if source.read(1):
                    raise BackupError(f"{name} has data after its end")
                return
            break
        else:
            raise BackupError(f"{name} does not decrypt: altered, or not this backup's passphrase")
        index += 1


# --- databases ---------------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory database cannot be backed up")
    return Path(database)


def _sync_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed.set(drivername="sqlite")


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore connection arguments for `url`; the password goes in the environment."""
    parsed = make_url(url)
    args = ["--dbname", str(parsed.database or "postgres"), "--host", parsed.host or "127.0.0.1"]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _counts(connection: Any) -> dict[str, int]:
    tables = sorted(inspect(connection).get_table_names())
    # The names come from the database's own catalogue, quoted.
    query = 'SELECT count(*) FROM "{}"'
    return {t: int(connection.execute(text(query.format(t))).scalar_one()) for t in tables}


def _tool_major(tool: str) -> int:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise BackupError(f"cannot read the version of {tool}: {out!r}")
    return int(match.group(1))


def _check_pg_versions(connection: Any, tool: str) -> None:
    server = int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    if _tool_major(tool) < server:
        raise BackupError(
            f"{tool} {_tool_major(tool)} is older than the PostgreSQL {server} server: "
            f"install postgresql-client-{server} or newer"
        )


def _dump_postgres(url: str, sink: IO[bytes], key: bytes, name: str) -> dict[str, int]:
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _check_pg_versions(connection, "pg_dump")
            connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            counts = _counts(connection)
            args, env = _libpq(url)
            command = [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
            ]
            with subprocess.Popen(
                [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            ) as dump:
                assert dump.stdout is not None
                encrypt_stream(key, name, dump.stdout, sink)
                error = dump.stderr.read().decode() if dump.stderr else ""
            if dump.returncode != 0:
                raise BackupError(f"pg_dump of {name} failed: {error.strip()}")
            connection.exec_driver_sql("COMMIT")
    finally:
        engine.dispose()
    return counts


def _dump_sqlite(url: str, sink: IO[bytes], key: bytes, name: str, scratch: Path) -> dict[str, int]:
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"{name}: {source_path} does not exist")
    copy = scratch / f"{name}.sqlite"
    with (
        contextlib.closing(sqlite3.connect(source_path)) as source,
        contextlib.closing(sqlite3.connect(copy)) as dest,
    ):
        source.backup(dest)  # the online backup API: a consistent copy while the service writes
    engine = create_engine(f"sqlite:///{copy}", poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            counts = _counts(connection)
    finally:
        engine.dispose()
    with copy.open("rb") as handle:
        encrypt_stream(key, name, handle, sink)
    copy.unlink()
    return counts


def _is_empty(url: str) -> bool:
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if not path.exists():
            return True
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return not inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _restore_postgres(url: str, source: IO[bytes], key: bytes, name: str) -> None:
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _check_pg_versions(connection, "pg_restore")
    finally:
        engine.dispose()
    args, env = _libpq(url)
    command = [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        *args,
    ]
    with tempfile.TemporaryFile() as stderr:
        with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=stderr, env=env) as process:
            assert process.stdin is not None
            try:
                decrypt_stream(key, name, source, process.stdin)
            finally:
                process.stdin.close()
        stderr.seek(0)
        error = stderr.read().decode()
    if process.returncode != 0:
        raise BackupError(f"pg_restore of {name} failed: {error.strip()}")


def _restore_sqlite(url: str, source: IO[bytes], key: bytes, name: str, scratch: Path) -> None:
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = scratch / f"{name}.sqlite"
    with copy.open("wb") as handle:
        decrypt_stream(key, name, source, handle)
    with (
        contextlib.closing(sqlite3.connect(copy)) as backup,
        contextlib.closing(sqlite3.connect(path)) as dest,
    ):
        backup.backup(dest)
    copy.unlink()


def table_counts(url: str) -> dict[str, int]:
    """Rows per table of the database at `url`."""
    engine = create_engine(_sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return _counts(connection)
    finally:
        engine.dispose()


# --- keys --------------------------------------------------------------------------------------


def _tar_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name, recursive=False)
    return buffer.getvalue()


def _untar_folder(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise BackupError(f"unexpected entry {member.name!r} in a key backup")
            extracted = tar.extractfile(member)
            assert extracted is not None
            fd = os.open(folder / member.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(extracted.read())


# --- backup and restore ------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="esafety-backup-"))
    os.chmod(folder, 0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def backup(targets: list[Target], out_dir: Path, passphrase: str, *, now: datetime | None = None) -> Path:
    """Back every target up into a new folder under `out_dir`; returns that folder."""
    now = now or datetime.now(UTC)
    salt = secrets.token_bytes(16)
    key = _derive(passphrase, salt)
    folder = Path(out_dir) / f"esafety-backup-{now:%Y%m%dT%H%M%S}Z"
    folder.mkdir(parents=True, mode=0o700)
    check = io.BytesIO()
    encrypt_stream(key, "check", io.BytesIO(CHECK_TEXT), check)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "kdf": {
            "name": "scrypt",
            "salt": base64.b64encode(salt).decode(),
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
        },
        "check": base64.b64encode(check.getvalue()).decode(),
        "services": [],
    }
    with _scratch() as scratch:
        for target in targets:
            entry: dict[str, Any] = {
                "name": target.name,
                "backend": "sqlite" if _is_sqlite(target.database_url) else "postgresql",
            }
            database_file = f"{target.name}.db.enc"
            fd = os.open(folder / database_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink:
                if entry["backend"] == "sqlite":
                    entry["counts"] = _dump_sqlite(target.database_url, sink, key, database_file, scratch)
                else:
                    entry["counts"] = _dump_postgres(target.database_url, sink, key, database_file)
            entry["database_file"] = database_file
            if target.keys_dir is not None and (target.keys_dir / "keys.json").is_file():
                keys_file = f"{target.name}.keys.enc"
                fd = os.open(folder / keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as sink:
                    encrypt_stream(key, keys_file, io.BytesIO(_tar_folder(target.keys_dir)), sink)
                entry["keys_file"] = keys_file
            manifest["services"].append(entry)
    (folder / "backup.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((Path(folder) / "backup.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a backup (no readable backup.json)") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder}: backup format {manifest.get('format')!r} is not {FORMAT}")
    return manifest


def _key_for(manifest: dict[str, Any], passphrase: str) -> bytes:
    key = _derive(passphrase, base64.b64decode(manifest["kdf"]["salt"]))
    try:
        decrypt_stream(key, "check", io.BytesIO(base64.b64decode(manifest["check"])), io.BytesIO())
    except BackupError as exc:
        raise BackupError("this is not the passphrase of this backup") from exc
    return key


def restore(folder: Path, targets: list[Target], passphrase: str) -> dict[str, dict[str, int]]:
    """Restore the backup in `folder` into the targets' empty databases and key folders.

    The passphrase, and that every target is empty and in the backup, are checked before anything
    is written, so such a refusal changes nothing. Returns the restored row counts per service,
    equal to the backup's (else BackupError).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    key = _key_for(manifest, passphrase)
    entries = {e["name"]: e for e in manifest["services"]}
    for target in targets:
        if target.name not in entries:
            raise BackupError(f"the backup holds no {target.name}")
        if not _is_empty(target.database_url):
            raise BackupError(f"{target.name}: the database is not empty; restore into an empty one")
        if entries[target.name].get("keys_file"):
            if target.keys_dir is None:
                raise BackupError(f"{target.name}: the backup holds keys; say where they go")
            if target.keys_dir.exists() and any(target.keys_dir.iterdir()):
                raise BackupError(f"{target.name}: the key folder {target.keys_dir} is not empty")
    restored: dict[str, dict[str, int]] = {}
    with _scratch() as scratch:
        for target in targets:
            entry = entries[target.name]
            with (folder / entry["database_file"]).open("rb") as source:
                if _is_sqlite(target.database_url):
                    _restore_sqlite(target.database_url, source, key, entry["database_file"], scratch)
                else:
                    _restore_postgres(target.database_url, source, key, entry["database_file"])
            if entry.get("keys_file") and target.keys_dir is not None:
                plain = io.BytesIO()
                with (folder / entry["keys_file"]).open("rb") as source:
                    decrypt_stream(key, entry["keys_file"], source, plain)
                _untar_folder(plain.getvalue(), target.keys_dir)
            counts = table_counts(target.database_url)
            if counts != entry["counts"]:
                raise BackupError(
                    f"{target.name}: restored rows {counts} differ from the backup's {entry['counts']}"
                )
            restored[target.name] = counts
    return restored
