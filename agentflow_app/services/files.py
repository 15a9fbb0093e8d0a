"""Files: upload, describe, download, hand to runs, delete with them (issue 15).

Every file has an owner; every read checks it, the rule of every object (another user's
file is :class:`NotFound`). A file comes in streamed through the store
(``files.store.Measure`` counts, hashes and enforces ``AGENTFLOW_MAX_FILE_MB`` as it
goes), its media type is sniffed from the first bytes and checked against the claimed one,
and only then does it get a row. Runs carry references, never bytes; when a run starts,
the references in its inputs are checked against its owner (a run cannot name someone
else's file by id) and rewritten from the rows, and the files are tied to the run, so
retention deletes them with it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, delete, insert, select, update

from agentflow_app.db import get_engine
from agentflow_app.engine.errors import NodeError, TemplateError
from agentflow_app.engine.resolver import UNRESOLVED
from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.files.backends import file_store
from agentflow_app.files.names import clean_name
from agentflow_app.files.refs import KEY, FileRef, find_refs, is_ref
from agentflow_app.files.sniff import TypeMismatch, settle
from agentflow_app.files.store import CHUNK, MissingBlob, TooLarge
from agentflow_app.files.text import NotText, capped_text
from agentflow_app.models import StoredFile, Workflow
from agentflow_app.models.base import utcnow
from agentflow_app.services import disk, workspaces
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

FILES = StoredFile.__table__
MIB = 1024 * 1024


class FileTooLarge(AgentFlowError):
    """A file, or a run's files together, passed a size limit (the API answers 413)."""


class FileRecord(FileRef):
    """A file's reference with its sha256 (to check an upload or a download against)."""

    sha256: str = Field(description="hex sha256 of the stored bytes")


def max_file_bytes() -> int:
    return get_settings().agentflow_max_file_mb * MIB


def max_run_bytes() -> int:
    return get_settings().agentflow_max_run_mb * MIB


def _ref(row: Any) -> FileRecord:
    return FileRecord.model_validate(
        {
            KEY: row.id,
            "name": row.name,
            "media_type": row.media_type,
            "size": row.size,
            "sha256": row.sha256,
        }
    )


def store_file(
    workspace_id: int | None,
    name: str | None,
    claimed_type: str | None,
    chunks: Iterable[bytes],
    *,
    owner_id: int | None = None,
    execution_id: int | None = None,
    limit: int | None = None,
) -> FileRecord:
    """Stream ``chunks`` into the store and record the file; its reference.

    Args:
        workspace_id: whose file it is (None: a file of ``agentflow run``).
        owner_id: who uploaded it, when someone did.
        name: the name the uploader gave (cleaned here).
        claimed_type: the media type the uploader gave, checked against the content.
        execution_id: the run that made it, when a step made it.
        limit: bytes allowed (default ``AGENTFLOW_MAX_FILE_MB``).

    Raises:
        FileTooLarge: over the limit, naming the file (nothing is kept).
        TypeMismatch: (422) the claimed type is not what the content is.
    """
    name = clean_name(name)
    limit = max_file_bytes() if limit is None else limit
    store = file_store()
    key = uuid.uuid4().hex
    try:
        written = store.put(key, chunks, limit=limit)
    except TooLarge:
        raise FileTooLarge(
            f"file {name!r} is over the limit of {_mib(limit)} (AGENTFLOW_MAX_FILE_MB)"
        ) from None
    except OSError as exc:
        if disk.is_enospc(exc):
            raise disk.note_full() from exc
        raise
    try:
        media_type = settle(claimed_type, name, written.head)
        with get_engine().begin() as conn:
            file_id = conn.execute(
                insert(FILES)
                .values(
                    workspace_id=workspace_id,
                    owner_id=owner_id,
                    execution_id=execution_id,
                    key=key,
                    name=name,
                    media_type=media_type,
                    size=written.size,
                    sha256=written.sha256,
                    created_at=utcnow(),
                )
                .returning(FILES.c.id)
            ).scalar_one()
    except BaseException:
        store.delete(key)
        raise
    return FileRecord.model_validate(
        {
            KEY: file_id,
            "name": name,
            "media_type": media_type,
            "size": written.size,
            "sha256": written.sha256,
        }
    )


def upload(
    actor: Actor, name: str | None, claimed_type: str | None, chunks: Iterable[bytes]
) -> FileRecord:
    """An upload by a signed-in user (``POST /api/files``, the execute dialog), into the
    workspace the actor acts in, for a run there.

    Raises:
        Forbidden: the actor's role there cannot start runs.
    """
    workspaces.require_here(actor, Can.RUN, "upload files for runs")
    return store_file(actor.workspace_id, name, claimed_type, chunks, owner_id=actor.id)


def _owned(conn: Connection, workspace_id: int | None, file_id: int) -> Any:
    """A file of ``workspace_id`` (a run's: the run may read only its workspace's)."""
    row = conn.execute(select(FILES).where(FILES.c.id == file_id)).one_or_none()
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"file {file_id} not found")
    return row


def _visible(conn: Connection, actor: Actor, file_id: int) -> Any:
    """A file of one of the actor's workspaces (any role reads)."""
    row = conn.execute(select(FILES).where(FILES.c.id == file_id)).one_or_none()
    workspaces.visible(actor, row.workspace_id if row else None, f"file {file_id} not found")
    return row


#: How long a download link the live view shows stays good (seconds).
LINK_TTL_S = 3600
PREVIEWABLE = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _link_key() -> bytes:
    secret = get_settings().secret_key().encode()
    return hashlib.sha256(b"agentflow file links\x00" + secret).digest()


def _link_mac(file_id: int, expires: int) -> str:
    payload = f"{file_id}.{expires}".encode()
    return hmac.new(_link_key(), payload, hashlib.sha256).hexdigest()


def download_links(actor: Actor, value: Any, ttl_s: int = LINK_TTL_S) -> list[dict[str, Any]]:
    """Signed download links for the actor's files referenced anywhere in ``value`` (a
    run's inputs, outputs and step outputs), in order of appearance.

    A browser cannot send a bearer header with a link or an ``<img>``, so the link carries
    its own proof: the file id and an expiry signed with a key derived from the secret key.
    Only files of the actor's workspaces get one; a reference to anyone else's file (an
    outside server may answer with anything that looks like one) gets none.
    """
    order = list(dict.fromkeys(ref[KEY] for ref in find_refs(value)))
    if not order:
        return []
    with get_engine().connect() as conn:
        rows = {
            row.id: row
            for row in conn.execute(select(FILES).where(FILES.c.id.in_(order))).all()
            if row.workspace_id in actor.roles
        }
    expires = int(time.time()) + ttl_s
    links = []
    for file_id in order:
        if (row := rows.get(file_id)) is None:
            continue
        links.append(
            {
                "id": row.id,
                "name": row.name,
                "media_type": row.media_type,
                "size": _human(row.size),
                "url": f"/api/files/{row.id}?sig={expires}.{_link_mac(row.id, expires)}",
                "image": row.media_type in PREVIEWABLE,
            }
        )
    return links


def download_signed(file_id: int, sig: str) -> tuple[FileRecord, Iterator[bytes]]:
    """The file a signed link names, while the link is good.

    Raises:
        NotFound: a forged, altered or expired link, or the file is gone.
    """
    expires, _, mac = sig.partition(".")
    if not (
        expires.isdigit()
        and int(expires) >= time.time()
        and hmac.compare_digest(mac, _link_mac(file_id, int(expires)))
    ):
        raise NotFound(f"file {file_id} not found (the link is invalid or expired)")
    with get_engine().connect() as conn:
        row = conn.execute(select(FILES).where(FILES.c.id == file_id)).one_or_none()
    if row is None:
        raise NotFound(f"file {file_id} not found")
    try:
        return _ref(row), file_store().open(row.key)
    except MissingBlob:
        raise NotFound(f"file {file_id} has no stored content any more") from None


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < MIB:
        return f"{size / 1024:.1f} KB"
    return f"{size / MIB:.1f} MB"


def workflow_workspace(workflow_id: int) -> int | None:
    """Whose files are posted to a workflow's webhook: its workspace's, whose run it is."""
    with get_engine().connect() as conn:
        return conn.execute(
            select(Workflow.workspace_id).where(Workflow.id == workflow_id)
        ).scalar_one_or_none()


def inputs_from_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """``agentflow run --input doc=@invoice.pdf``: each ``@path`` value stored as a file of
    the run (no owner: the CLI has no accounts) and replaced by its reference.

    Raises:
        InvalidInput: no readable file at the path (naming the input).
        FileTooLarge: the file is over ``AGENTFLOW_MAX_FILE_MB``.
    """
    values = dict(raw)
    for name, value in raw.items():
        if not (isinstance(value, str) and value.startswith("@") and len(value) > 1):
            continue
        path = Path(value[1:]).expanduser()
        try:
            handle = path.open("rb")
        except OSError as exc:
            message = f"input {name!r}: cannot read {path}: {exc.strerror}"
            raise InvalidInput(
                message, [{"node_id": None, "field": f"inputs.{name}", "message": message}]
            ) from None
        with handle:
            chunks = iter(functools.partial(handle.read, CHUNK), b"")
            values[name] = store_file(None, path.name, None, chunks).as_json()
    return values


def describe(actor: Actor, file_id: int) -> FileRecord:
    """The reference of a file of the actor's workspaces.

    Raises:
        NotFound: no such file, or not in the actor's workspaces.
    """
    with get_engine().connect() as conn:
        return _ref(_visible(conn, actor, file_id))


def download(actor: Actor, file_id: int) -> tuple[FileRecord, Iterator[bytes]]:
    """The reference and the bytes (chunk by chunk) of a file of the actor's workspaces.

    Raises:
        NotFound: no such file, not in the actor's workspaces, or its bytes are gone.
    """
    with get_engine().connect() as conn:
        row = _visible(conn, actor, file_id)
    try:
        return _ref(row), file_store().open(row.key)
    except MissingBlob:
        log.warning("file %s: its bytes are missing from the store", file_id)
        raise NotFound(f"file {file_id} has no stored content any more") from None


def claim_refs(workspace_id: int | None, values: Any) -> Any:
    """``values`` with every file reference checked against ``workspace_id`` and
    rewritten from its row (so a caller cannot claim another name, type or size).

    Raises:
        InvalidInput: (422) a reference names no file of the workspace.
        FileTooLarge: the files together pass ``AGENTFLOW_MAX_RUN_MB``.
    """
    ids = {ref[KEY] for ref in find_refs(values)}
    if not ids:
        return values
    with get_engine().connect() as conn:
        rows = {
            row.id: row
            for row in conn.execute(select(FILES).where(FILES.c.id.in_(ids))).all()
            if row.workspace_id == workspace_id
        }
    if missing := sorted(ids - set(rows)):
        message = f"file {missing[0]} not found: upload it first (POST /api/files)"
        raise InvalidInput(message, [{"node_id": None, "field": "inputs", "message": message}])
    if (total := sum(row.size for row in rows.values())) > max_run_bytes():
        raise FileTooLarge(
            f"the run's files add up to {_mib(total)}, over the limit of "
            f"{_mib(max_run_bytes())} (AGENTFLOW_MAX_RUN_MB)"
        )
    return _rewrite(values, rows)


def _rewrite(value: Any, rows: dict[int, Any]) -> Any:
    if is_ref(value):
        return _ref(rows[value[KEY]]).as_json()
    if isinstance(value, dict):
        return {key: _rewrite(item, rows) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, rows) for item in value]
    return value


def attach(execution_id: int, values: Any) -> None:
    """Tie the not-yet-used files in ``values`` to the run, so they go when it goes."""
    ids = {ref[KEY] for ref in find_refs(values)}
    if not ids:
        return
    with get_engine().begin() as conn:
        conn.execute(
            update(FILES)
            .where(FILES.c.id.in_(ids), FILES.c.execution_id.is_(None))
            .values(execution_id=execution_id)
        )


def discard(file_ids: list[int]) -> None:
    """Delete files stored for a request that was then refused (no run holds them)."""
    if not file_ids:
        return
    with get_engine().begin() as conn:
        keys = list(
            conn.execute(
                delete(FILES)
                .where(FILES.c.id.in_(file_ids), FILES.c.execution_id.is_(None))
                .returning(FILES.c.key)
            ).scalars()
        )
    forget_blobs(keys)


def delete_for_executions(conn: Connection, execution_ids: list[int]) -> list[str]:
    """Delete the rows of the runs' files in ``conn``'s transaction; their store keys,
    for :func:`forget_blobs` once the transaction has committed."""
    keys = list(
        conn.execute(select(FILES.c.key).where(FILES.c.execution_id.in_(execution_ids))).scalars()
    )
    if keys:
        conn.execute(delete(FILES).where(FILES.c.execution_id.in_(execution_ids)))
    return keys


def forget_blobs(keys: list[str]) -> None:
    """Delete bytes whose rows are gone; a failure is logged, never raised (the rows are
    already deleted, so nothing can reach the bytes)."""
    store = file_store()
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            log.exception("file store: could not delete %s", key)


def _mib(size: int) -> str:
    return f"{size / MIB:.0f} MiB" if size >= MIB else f"{size} bytes"


class DbFileHost:
    """``ctx.services["files"]`` for one run: its workspace's files, and files it makes."""

    def __init__(self, execution_id: int | None, workspace_id: int | None) -> None:
        self.execution_id = execution_id
        self.workspace_id = workspace_id

    async def read(self, ref: Any, *, limit: int) -> tuple[dict[str, Any], bytes]:
        return await asyncio.to_thread(self._read, ref, limit)

    def _read(self, ref: Any, limit: int) -> tuple[dict[str, Any], bytes]:
        if not is_ref(ref):
            raise NodeError("not a file: give a file reference, e.g. {{ inputs.document }}")
        try:
            with get_engine().connect() as conn:
                row = _owned(conn, self.workspace_id, ref[KEY])
        except NotFound as exc:
            raise NodeError(str(exc)) from None
        if row.size > limit:
            raise NodeError(f"file {row.name!r} is {_mib(row.size)}, over {_mib(limit)}")
        try:
            data = b"".join(file_store().open(row.key))
        except MissingBlob:
            raise NodeError(f"file {row.name!r} has no stored content any more") from None
        return _ref(row).as_json(), data

    async def create(
        self, name: str, media_type: str | None, data: bytes, *, lenient: bool = False
    ) -> dict[str, Any]:
        def make() -> dict[str, Any]:
            def store(claimed: str | None) -> dict[str, Any]:
                return store_file(
                    self.workspace_id, name, claimed, [data], execution_id=self.execution_id
                ).as_json()

            try:
                try:
                    return store(media_type)
                except TypeMismatch:
                    if not lenient:
                        raise
                    return store(None)  # a server mislabelled its answer: the bytes decide
            except (FileTooLarge, InvalidInput) as exc:
                raise NodeError(str(exc)) from None

        return await asyncio.to_thread(make)


class FileTexts:
    """The run's template resolver (``runner.run(resolve=...)``): a file reference's
    ``text``, read from the store the first time a template of the run asks for it.

    Checked like every read: a reference to a file outside the run's workspace (an
    outside server may answer with anything that looks like one) is "not found".
    Texts are kept for the run's later steps, at most :data:`KEEP` of them.
    """

    KEEP = 16
    keys = frozenset({"text"})

    def __init__(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self._texts: dict[int, str] = {}
        self._lock = threading.Lock()  # steps render in threads, side by side

    def __call__(self, value: dict[str, Any], key: str) -> Any:
        if key != "text" or not is_ref(value):
            return UNRESOLVED
        file_id = value[KEY]
        with self._lock:
            text = self._texts.get(file_id)
        if text is None:
            text = self._read(file_id)
            with self._lock:
                if len(self._texts) >= self.KEEP:
                    self._texts.pop(next(iter(self._texts)))
                self._texts[file_id] = text
        return text

    def _read(self, file_id: int) -> str:
        try:
            with get_engine().connect() as conn:
                row = _owned(conn, self.workspace_id, file_id)
        except NotFound as exc:
            raise TemplateError(None, None, str(exc)) from None
        chunks = file_store().open(row.key)
        try:
            return capped_text(row.name, row.media_type, chunks)
        except NotText as exc:
            raise TemplateError(None, None, str(exc)) from None
        except MissingBlob:
            raise TemplateError(
                None, None, f"file {row.name!r} has no stored content any more"
            ) from None
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
