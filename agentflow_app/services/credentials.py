"""Credentials use cases, shared by the REST API and the Reflex state (SPEC §9, §10, §11).

Every function takes the acting user (an :class:`Actor`) and only sees the credentials of
its workspaces (``services.workspaces``): one in a workspace the actor is no member of
answers :class:`~agentflow_app.errors.NotFound`, like one that does not exist; reading
names needs any role, changing them ``editor`` or above. Values go in and never come out,
for every role: the views returned here hold the name, the kind, dates, the masked hint
and the workflows that use it, never the value. Members use a workspace's credentials
only through its runs.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from agentflow_app.db import session_scope
from agentflow_app.errors import Conflict, CredentialError, InvalidInput
from agentflow_app.models.base import utcnow
from agentflow_app.models.credential import Credential
from agentflow_app.models.workflow import Workflow, WorkflowVersion
from agentflow_app.secrets.checks import CheckResult, check
from agentflow_app.secrets.fernet import UndecryptableError, cipher
from agentflow_app.secrets.kinds import parse_value
from agentflow_app.secrets.storage import delete_external, write_value
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import audit, workspaces
from agentflow_app.services.audit import AuditAction
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

MAX_NAME_LENGTH = 200


class WorkflowRef(BaseModel):
    """A workflow that names a credential."""

    id: int
    name: str


class CredentialView(BaseModel):
    """What anyone is ever shown of a credential."""

    id: int
    name: str
    kind: str
    #: The workspace it belongs to (its members' runs may use it).
    workspace_id: int
    #: ``••••1234``: enough to tell two keys apart, not enough to use one.
    hint: str
    backend: Literal["db", "aws"]
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    used_by: list[WorkflowRef]


def list_credentials(actor: Actor) -> list[CredentialView]:
    """The workspace's credentials by name, each with the workflows that use it."""
    workspaces.require_here(actor, Can.READ, "see credentials")
    with session_scope() as session:
        rows = session.exec(
            select(Credential)
            .where(Credential.workspace_id == actor.workspace_id)
            .order_by(Credential.name)
        ).all()
        usage = _usage(session, actor.workspace_id)
        return [_view(row, usage.get(row.name, [])) for row in rows]


def get_credential(actor: Actor, credential_id: int) -> CredentialView:
    """One credential of the actor's workspaces.

    Raises:
        NotFound: no such credential in them.
    """
    return _get(actor, credential_id, Can.READ)


def _get(actor: Actor, credential_id: int, can: Can) -> CredentialView:
    with session_scope() as session:
        row = _owned(session, actor, credential_id, can)
        return _view(row, _usage(session, row.workspace_id).get(row.name, []))


def kinds_by_name(workspace_id: int) -> dict[str, str]:
    """``{name: kind}`` of one workspace's credentials, for validating workflow documents."""
    with session_scope() as session:
        rows = session.exec(
            select(Credential.name, Credential.kind).where(Credential.workspace_id == workspace_id)
        ).all()
    return dict(rows)


def credential_problems(workspace_id: int, document: Any) -> list[dict[str, str]]:
    """Nodes of ``document`` naming a credential its workspace lacks, or one of the wrong
    kind.

    Takes the workspace's id rather than an actor because webhook and schedule runs start
    without a signed-in user.

    For the workflow service to add to its validation (SPEC §7 problem shape). The kinds a
    node accepts come from its config's ``credential`` field (``credential_kinds`` in the
    field's schema extras), the LLM provider's kind for LLM nodes, and each tool's
    ``credential_kinds`` for an agent's ``tool_credentials``, and ``mcp`` for each of an
    agent's ``mcp_servers`` that is not an administrator's ``stdio:`` server.

    Returns:
        ``[{node_id, field, message}]``, empty when every name resolves.
    """
    from agentflow_app.catalog import default_registry
    from agentflow_app.llm.providers import CREDENTIAL_KINDS as PROVIDER_KINDS

    registry = default_registry()
    owned: dict[str, str] | None = None  # read once, and only if some node names one
    problems: list[dict[str, str]] = []

    def check(node_id: str, field: str, name: Any, kinds: tuple[str, ...]) -> None:
        nonlocal owned
        if not isinstance(name, str) or not name:
            return
        if kinds == ("mcp",) and name.startswith("stdio:"):
            return  # an administrator's stdio server: checked against the list at run time
        if owned is None:
            owned = kinds_by_name(workspace_id)
        kind = owned.get(name)
        if kind is None:
            message = f"there is no credential named {name!r}; add it under Credentials"
        elif kinds and kind not in kinds:
            message = f"credential {name!r} is a {kind} credential; this needs {' or '.join(kinds)}"
        else:
            return
        problems.append({"node_id": node_id, "field": field, "message": message})

    nodes = document.get("nodes") if isinstance(document, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict) or not registry.has_node(str(node.get("type"))):
            continue
        node_id = str(node.get("id", ""))
        config = (node.get("data") or {}).get("config") or {}
        if not isinstance(config, dict):
            continue
        field_info = registry.node(node["type"]).Config.model_fields.get("credential")
        extra = field_info.json_schema_extra if field_info is not None else None
        kinds = tuple(extra.get("credential_kinds", ())) if isinstance(extra, dict) else ()
        if "provider" in config and not kinds:
            kinds = (PROVIDER_KINDS.get(str(config["provider"]), ""),)
        check(node_id, "config.credential", config.get("credential"), tuple(k for k in kinds if k))
        tools = config.get("tool_credentials")
        for tool_id, name in tools.items() if isinstance(tools, dict) else ():
            tool_kinds: tuple[str, ...] = ()
            if tool_id in registry.tools():
                tool_kinds = tuple(getattr(registry.tool(tool_id), "credential_kinds", ()))
            check(node_id, f"config.tool_credentials.{tool_id}", name, tool_kinds)
        for index, name in enumerate(_mcp_credentials(config)):
            check(node_id, f"config.mcp_servers[{index}]", name, ("mcp",))
    return problems


def _mcp_credentials(config: dict[str, Any]) -> list[str]:
    """The credential names of an agent's ``mcp_servers`` (``stdio:`` ones are no credential)."""
    servers = config.get("mcp_servers")
    return [
        name
        for name in (servers if isinstance(servers, list) else [])
        if isinstance(name, str) and not name.startswith("stdio:")
    ]


def create_credential(actor: Actor, name: str, kind: str, data: Any) -> CredentialView:
    """Validate and store a new credential.

    Raises:
        InvalidInput: a bad name, unknown kind or invalid fields (each named).
        Conflict: the workspace already has a credential of that name.
        Forbidden: the actor's role cannot change credentials.
    """
    workspaces.require_here(actor, Can.EDIT, _CHANGE)
    name = _check_name(name)
    value = parse_value(kind, data)
    with session_scope() as session:
        _check_references(session, actor.workspace_id, value.stored())
        if _by_name(session, actor.workspace_id, name) is not None:
            raise _taken(name)
        now = utcnow()
        row = Credential(
            workspace_id=actor.workspace_id,
            owner_id=actor.id,
            name=name,
            kind=kind,
            hint=value.hint(),
            created_at=now,
            updated_at=now,
        )
        write_value(row, value.stored())
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # created concurrently under the same name
            session.rollback()
            delete_external(row.external_ref, name)
            raise _taken(name) from None
        _audit(AuditAction.CREDENTIAL_CREATED, actor, row, session)
        return _view(row, _usage(session, row.workspace_id).get(name, []))


def replace_credential(actor: Actor, credential_id: int, data: Any) -> CredentialView:
    """Replace a credential's value (same name, same kind).

    Raises:
        NotFound: no such credential of this user.
        InvalidInput: invalid fields for its kind.
    """
    with session_scope() as session:
        row = _owned(session, actor, credential_id, Can.EDIT)
        value = parse_value(row.kind, data)
        _check_references(session, row.workspace_id, value.stored())
        stale = write_value(row, value.stored())
        row.hint = value.hint()
        row.updated_at = utcnow()
        session.add(row)
        session.flush()
        _audit(AuditAction.CREDENTIAL_UPDATED, actor, row, session)
        view = _view(row, _usage(session, row.workspace_id).get(row.name, []))
    delete_external(stale, view.name)
    return view


def delete_credential(actor: Actor, credential_id: int) -> CredentialView:
    """Delete a credential (and its AWS secret); returns what was deleted.

    Raises:
        NotFound: no such credential of this user.
    """
    with session_scope() as session:
        row = _owned(session, actor, credential_id, Can.EDIT)
        view = _view(row, _usage(session, row.workspace_id).get(row.name, []))
        arn = row.external_ref
        _audit(AuditAction.CREDENTIAL_DELETED, actor, row, session)
        session.delete(row)
    delete_external(arn, view.name)
    return view


async def check_credential(actor: Actor, credential_id: int) -> CheckResult:
    """Make the cheapest authenticated call for the credential's kind (the Test button).

    The answer says whether the service accepted it; any part of the value the service
    echoed into its answer is redacted.

    Raises:
        NotFound: no such credential of this user.
    """
    view = await asyncio.to_thread(_get, actor, credential_id, Can.EDIT)
    vault = Vault(view.workspace_id)
    try:
        value = await vault.get(view.name, (view.kind,))
    except CredentialError as exc:
        return CheckResult(ok=False, message=str(exc))
    result = await check(view.kind, value)
    return CheckResult(ok=result.ok, message=vault.redactor.text(result.message))


def rotate_keys() -> int:
    """Re-encrypt every database-held value under the first encryption key.

    All or nothing: when some value opens with none of the configured keys, nothing is
    changed and the error names every such credential (with its owner's id).

    Returns:
        How many values were re-encrypted.

    Raises:
        UndecryptableError: naming the credentials no configured key opens.
    """
    current = cipher()
    with session_scope() as session:
        rows = session.exec(select(Credential).where(Credential.ciphertext.is_not(None))).all()
        lost: list[str] = []
        for row in rows:
            try:
                row.ciphertext = current.rotate(row.ciphertext, row.name)
            except UndecryptableError:
                lost.append(f"{row.name!r} (user {row.owner_id})")
                continue
            session.add(row)
        if lost:
            session.rollback()
            raise UndecryptableError(
                f"nothing was re-encrypted: {len(lost)} credential(s) open with none of the "
                f"configured AGENTFLOW_ENCRYPTION_KEYS: {', '.join(lost)}; put the old key "
                "back after the first one and run rotate-keys again"
            )
        return len(rows)


# -- helpers -------------------------------------------------------------------------------


def _audit(action: AuditAction, actor: Actor, row: Credential, session: Session) -> None:
    """Record a change of ``row`` (its name and kind; never any part of its value)."""
    detail = {"name": row.name, "kind": row.kind}
    audit.record(
        action,
        actor=actor,
        target_type="credential",
        target_id=row.id,
        detail=detail,
        workspace_id=row.workspace_id,
        session=session,
    )


def run_use_recorder(execution_id: int) -> Callable[[Session, list[Credential]], None]:
    """The vault hook of a run: "used by run" once per credential per run.

    A run resumed after a wait or a crash gets a new vault, so the log is asked whether
    this run's use of the credential is already there before adding it.
    """

    def record_use(session: Session, rows: list[Credential]) -> None:
        for row in rows:
            if not audit.recorded_for_run(
                session, AuditAction.CREDENTIAL_USED, row.id, execution_id
            ):
                audit.record(
                    AuditAction.CREDENTIAL_USED,
                    actor_id=row.owner_id,
                    actor_email=audit.email_of(session, row.owner_id),
                    target_type="credential",
                    target_id=row.id,
                    detail={"name": row.name, "kind": row.kind, "execution_id": execution_id},
                    workspace_id=row.workspace_id,
                    session=session,
                )

    return record_use


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            "give the credential a name", [{"field": "name", "message": "is required"}]
        )
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"the credential name is longer than {MAX_NAME_LENGTH} characters",
            [{"field": "name", "message": f"at most {MAX_NAME_LENGTH} characters"}],
        )
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidInput(
            "the credential name holds control characters",
            [{"field": "name", "message": "no control characters"}],
        )
    return name


def _check_references(session: Session, workspace_id: int, value: dict[str, Any]) -> None:
    """An ses credential naming an aws credential: that one must exist and be aws."""
    referenced = value.get("aws_credential")
    if not referenced:
        return
    row = _by_name(session, workspace_id, referenced)
    if row is None or row.kind != "aws":
        problem = "no such credential" if row is None else f"is a {row.kind} credential"
        raise InvalidInput(
            f"aws_credential {referenced!r}: {problem}; name one of your aws credentials",
            [{"field": "data.aws_credential", "message": f"{problem}; name an aws credential"}],
        )


def _taken(name: str) -> Conflict:
    return Conflict(f"this workspace already has a credential named {name!r}; choose another name")


#: What :data:`Can.EDIT` allows on credentials, for the Forbidden message.
_CHANGE = "add, change, test or delete credentials"


def _by_name(session: Session, workspace_id: int, name: str) -> Credential | None:
    return session.exec(
        select(Credential).where(Credential.workspace_id == workspace_id, Credential.name == name)
    ).first()


def _owned(session: Session, actor: Actor, credential_id: int, can: Can) -> Credential:
    """The credential, when the actor's role in its workspace allows ``can``.

    Raises:
        NotFound: no such credential in the actor's workspaces.
        Forbidden: the role does not allow ``can``.
    """
    row = session.get(Credential, credential_id)
    workspaces.visible(
        actor, row.workspace_id if row else None, f"credential {credential_id} not found"
    )
    workspaces.require(
        actor, row.workspace_id, can, "see credentials" if can == Can.READ else _CHANGE
    )
    return row


def _view(row: Credential, used_by: list[WorkflowRef]) -> CredentialView:
    return CredentialView(
        id=row.id,
        name=row.name,
        kind=row.kind,
        workspace_id=row.workspace_id,
        hint=row.hint,
        backend="aws" if row.external_ref else "db",
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_used_at=row.last_used_at,
        used_by=used_by,
    )


def _usage(session: Session, workspace_id: int) -> dict[str, list[WorkflowRef]]:
    """Credential name → the workspace's workflows whose newest version names it."""
    rows = session.exec(
        select(Workflow.id, Workflow.name, WorkflowVersion.document)
        .join(
            WorkflowVersion,
            (WorkflowVersion.workflow_id == Workflow.id)
            & (WorkflowVersion.version == Workflow.version),
        )
        .where(Workflow.workspace_id == workspace_id)
        .order_by(Workflow.name)
    ).all()
    usage: dict[str, list[WorkflowRef]] = {}
    for workflow_id, workflow_name, document in rows:
        for name in sorted(credential_names(document)):
            usage.setdefault(name, []).append(WorkflowRef(id=workflow_id, name=workflow_name))
    return usage


def credential_names(document: Any) -> set[str]:
    """The credential names a workflow document's nodes refer to.

    A node's ``credential`` config value, the values of an agent's ``tool_credentials``
    map, and its ``mcp_servers`` (but ``stdio:`` ones, which are no credential).
    """
    names: set[str] = set()
    nodes = document.get("nodes") if isinstance(document, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        data = node.get("data") if isinstance(node, dict) else None
        config = data.get("config") if isinstance(data, dict) else None
        if not isinstance(config, dict):
            continue
        if isinstance(config.get("credential"), str) and config["credential"]:
            names.add(config["credential"])
        tools = config.get("tool_credentials")
        if isinstance(tools, dict):
            names |= {v for v in tools.values() if isinstance(v, str) and v}
        names |= {name for name in _mcp_credentials(config) if name}
    return names
