"""Backups of the embedded default: the SQLite database and the key files, in one archive.

An archive (``agentflow backup PATH``) is a gzipped tar holding ``manifest.json``, a
snapshot of the database and the generated key files of the data dir. The snapshot is
taken with ``VACUUM INTO`` on a read transaction, so it is consistent while workers keep
writing (WAL lets them go on meanwhile), and it must pass ``PRAGMA integrity_check``
before the archive is written: a backup that could not be restored is an error now, not
on the day it is needed. Credential values are encrypted with the key files, so an
archive without them would restore credentials nobody can read; with them, the archive
is as secret as the keys, hence mode 0600 and the warning the CLI prints.

PostgreSQL deployments back up with ``pg_dump`` (docs/operations.md): both functions
refuse a PostgreSQL ``DB_URL`` with a message that says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from agentflow_app.db import engine_for, get_engine
from agentflow_app.errors import AgentFlowError
from agentflow_app.migrate import alembic_config, upgrade_head
from agentflow_app.models import Credential, Execution, User, Workflow
from agentflow_app.secrets.fernet import UndecryptableError, cipher
from agentflow_app.services import disk
from agentflow_app.settings import ENCRYPTION_KEYS_FILE, SECRET_KEY_FILE, Settings, get_settings

MANIFEST = "manifest.json"
DATABASE = "agentflow.db"
#: Key files of the data dir, with the variable that replaces each when set.
KEY_FILES = {
    SECRET_KEY_FILE: "AGENTFLOW_SECRET_KEY",
    ENCRYPTION_KEYS_FILE: "AGENTFLOW_ENCRYPTION_KEYS",
}
#: SQLite's companions of a database file: stale ones must never meet a restored file
#: (SQLite would replay an old WAL into it).
SIDE_FILES = ("-wal", "-shm", "-journal")
PG_DOCS = "docs/operations.md#postgresql"


class BackupError(AgentFlowError):
    """A backup or restore that cannot be done; the message says why and what to do."""


class Manifest(BaseModel):
    """What an archive holds, written first so a restore can check it before anything."""

    format: Literal[1] = 1
    created_at: datetime
    #: The Alembic revision of the snapshot; a restore migrates from it to head.
    schema_revision: str | None
    key_files: list[str]


class BackupReport(BaseModel):
    path: Path
    size_bytes: int
    key_files: list[str]
    #: Keys set in the environment: not in the archive, to be kept by the operator.
    keys_from_environment: list[str]
    #: Credential values held in AWS Secrets Manager stay there (not in the archive).
    external_credentials: int


class RestoreReport(BaseModel):
    database: Path
    data_dir: Path
    schema_revision: str | None
    key_files: list[str]
    users: int
    workflows: int
    executions: int
    credentials: int
    #: Names of credentials the keys now in effect cannot decrypt (should be empty).
    undecryptable: list[str]


def backup(path: Path, *, force: bool = False) -> BackupReport:
    """Write an archive of the embedded database and key files to ``path``.

    Raises:
        BackupError: PostgreSQL, no database yet, ``path`` exists (without ``force``),
            or the snapshot failed its integrity check.
    """
    settings = get_settings()
    database = _sqlite_file(settings, "back it up with pg_dump")
    if not database.exists():
        raise BackupError(f"there is no database at {database} yet: nothing to back up")
    path = path.expanduser().resolve()
    if path.is_dir():
        raise BackupError(f"{path} is a directory: give the archive's file name")
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose another name or pass --force to replace it")
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    key_files = [
        name
        for name, variable in KEY_FILES.items()
        if not _from_environment(settings, variable) and (settings.data_dir / name).exists()
    ]
    with tempfile.TemporaryDirectory(prefix=".agentflow-backup-", dir=path.parent) as work:
        snapshot = Path(work) / DATABASE
        _snapshot(database, snapshot)
        revision, external = _inspect(snapshot)
        manifest = Manifest(
            created_at=datetime.now(UTC), schema_revision=revision, key_files=key_files
        )
        staged = Path(work) / "archive.tar.gz"
        # Created 0600 before a byte is written: the archive holds the keys.
        with (
            os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz") as archive,
        ):
            _add_bytes(archive, MANIFEST, manifest.model_dump_json(indent=2).encode())
            archive.add(snapshot, DATABASE)
            for name in key_files:
                _add_bytes(archive, name, (settings.data_dir / name).read_bytes())
        staged.replace(path)
    return BackupReport(
        path=path,
        size_bytes=path.stat().st_size,
        key_files=key_files,
        keys_from_environment=[v for v in KEY_FILES.values() if _from_environment(settings, v)],
        external_credentials=external,
    )


def restore(path: Path, *, force: bool = False) -> RestoreReport:
    """Unpack an archive made by :func:`backup` into the configured (empty) data dir.

    The database is migrated to this version's schema afterwards, and every credential
    is test-decrypted with the keys now in effect (the report names those that fail).

    Raises:
        BackupError: PostgreSQL, not an archive, a newer schema than this version knows,
            or a data dir that holds something (without ``force``).
    """
    settings = get_settings()
    database = _sqlite_file(settings, "restore it with pg_restore")
    manifest, archive_bytes = _read_archive(path.expanduser())
    _check_revision(manifest.schema_revision)
    _check_empty(settings.data_dir, database, force=force)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    engine_for(settings.database_url).dispose()  # no pooled connection to the old file
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as archive:
        staged = database.with_name(f".{database.name}.restoring")
        staged.write_bytes(_member(archive, DATABASE))
        for suffix in SIDE_FILES:
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        staged.replace(database)
        for name in manifest.key_files:
            _write_secret(settings.data_dir / name, _member(archive, name))
    upgrade_head()
    return _restored(settings, database, manifest)


# -- helpers ------------------------------------------------------------------------------


def _sqlite_file(settings: Settings, instead: str) -> Path:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"DB_URL points at PostgreSQL: {instead} "
            f"(see {PG_DOCS}), and keep AGENTFLOW_ENCRYPTION_KEYS and "
            "AGENTFLOW_SECRET_KEY (or the key files of the data dir) with it"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("DB_URL names an in-memory SQLite database: there is no file to copy")
    return Path(url.database).expanduser().resolve()


def _from_environment(settings: Settings, variable: str) -> bool:
    return bool(getattr(settings, variable.lower()))


def _snapshot(database: Path, snapshot: Path) -> None:
    """A consistent copy of ``database`` while others write to it, checked before use."""
    source = sqlite3.connect(database, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.execute("VACUUM INTO ?", (str(snapshot),))
    except sqlite3.Error as exc:
        raise BackupError(f"could not snapshot {database}: {exc}") from None
    finally:
        source.close()
    copy = sqlite3.connect(snapshot)
    try:
        verdict = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    finally:
        copy.close()
    if verdict != ["ok"]:
        raise BackupError(
            f"the snapshot of {database} fails SQLite's integrity check "
            f"({'; '.join(verdict[:3])}); the database itself may be damaged"
        )


def _inspect(snapshot: Path) -> tuple[str | None, int]:
    """The snapshot's Alembic revision and how many credentials live outside it (AWS)."""
    copy = sqlite3.connect(snapshot)
    try:
        revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
        external = copy.execute(
            "SELECT count(*) FROM credentials WHERE external_ref IS NOT NULL"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # never migrated: no tables at all
        return None, 0
    finally:
        copy.close()
    return (revision[0] if revision else None), external


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


def _read_archive(path: Path) -> tuple[Manifest, bytes]:
    """The manifest and the raw archive; anything else is 'not an AgentFlow backup'."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file")
    data = path.read_bytes()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            manifest = Manifest.model_validate_json(_member(archive, MANIFEST))
            for name in [DATABASE, *manifest.key_files]:
                _member(archive, name)
    except (tarfile.TarError, OSError, EOFError, ValidationError, BackupError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackupError(
            f"{path} is not an AgentFlow backup made by `agentflow backup` ({why})"
        ) from None
    if not set(manifest.key_files) <= set(KEY_FILES):
        raise BackupError(f"{path} names unknown key files: {manifest.key_files}")
    return manifest, data


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    """One regular file of the archive by its exact name (never a path to extract to)."""
    try:
        info = archive.getmember(name)
    except KeyError:
        raise BackupError(f"{name} is missing from the archive") from None
    handle = archive.extractfile(info) if info.isfile() else None
    if handle is None:
        raise BackupError(f"{name} in the archive is not a regular file")
    return handle.read()


def _check_revision(revision: str | None) -> None:
    if revision is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(revision)
    except Exception:  # alembic raises several kinds for an unknown id
        known = None
    if known is None:
        raise BackupError(
            f"the backup's schema ({revision}) is newer than this AgentFlow knows: "
            "restore it with the version that made it, or upgrade AgentFlow first"
        )


def _check_empty(data_dir: Path, database: Path, *, force: bool) -> None:
    entries = data_dir.iterdir() if data_dir.is_dir() else []
    # The disk reserve holds nothing (a health check may have set it aside already).
    held = sorted(entry.name for entry in entries if entry.name != disk.RESERVE_NAME)
    if database.exists() and database.parent != data_dir:
        held.append(str(database))
    if held and not force:
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise BackupError(
            f"the data dir {data_dir} is not empty (it holds {shown}): restore into an empty "
            "one (set AGENTFLOW_DATA_DIR), or stop AgentFlow and pass --force to replace "
            "its database and key files"
        )


def _write_secret(path: Path, data: bytes) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(data)


def _restored(settings: Settings, database: Path, manifest: Manifest) -> RestoreReport:
    counts = {}
    undecryptable = []
    with get_engine().connect() as conn:
        for key, model in (
            ("users", User),
            ("workflows", Workflow),
            ("executions", Execution),
            ("credentials", Credential),
        ):
            counts[key] = conn.execute(select(func.count()).select_from(model)).scalar_one()
        sealed = conn.execute(
            select(Credential.name, Credential.ciphertext).where(Credential.ciphertext.is_not(None))
        ).all()
    keys = cipher() if sealed else None  # no key file is generated for nothing
    for name, ciphertext in sealed:
        try:
            keys.decrypt(ciphertext, name)
        except UndecryptableError:
            undecryptable.append(name)
    return RestoreReport(
        database=database,
        data_dir=settings.data_dir,
        schema_revision=manifest.schema_revision,
        key_files=manifest.key_files,
        undecryptable=undecryptable,
        **counts,
    )
