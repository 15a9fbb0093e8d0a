"""Migration 0007 (workspaces) on a populated database, up, down and up again, on SQLite
and PostgreSQL.

The rows are written with raw SQL against the 0006 schema, not through the services: they
are written for the newest schema, and what matters here is what the migration does to
rows that already exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from agentflow_app.db import get_engine
from agentflow_app.migrate import alembic_config, upgrade_head
from tests.helpers.databases import database, downgrade_to  # noqa: F401  (the fixture)
from tests.helpers.migration_rows import (
    NOW,
    credential_row,
    execution_row,
    insert_row,
    step_and_event_rows,
    user_row,
    workflow_row,
)

#: Child tables first, so a wipe never trips a foreign key.
TABLES = (
    "approvals",
    "files",
    "execution_events",
    "step_runs",
    "executions",
    "workflow_versions",
    "workflows",
    "credentials",
    "api_keys",
    "users",
)
#: Tables with a workspace after 0007, and the column naming the account.
OWNED = {
    "workflows": "owner_id",
    "credentials": "owner_id",
    "executions": "owner_id",
    "files": "owner_id",
    "approvals": "owner_id",
    "api_keys": "user_id",
}
NEW_TABLES = {"workspaces", "memberships", "workspace_invitations"}


@dataclass
class Populated:
    alice: int
    bob: int
    #: Alice's first workflow, with a run, its steps, events, a file and an approval.
    workflow: int
    #: The ``agentflow run`` execution: no workflow, no account.
    anonymous_run: int


def _file(conn: Connection, owner: int | str, execution: int, key: str) -> int:
    return insert_row(
        conn,
        "files",
        owner_id=owner,
        execution_id=execution,
        key=f"'{key}'",
        name="'a.txt'",
        media_type="'text/plain'",
        size=1,
        sha256="'0'",
        created_at=NOW,
    )


def _approval(conn: Connection, owner: int | str, execution: int) -> int:
    return insert_row(
        conn,
        "approvals",
        execution_id=execution,
        node_id="'approve'",
        owner_id=owner,
        approvers="'[]'",
        message="'ok?'",
        status="'pending'",
        nonce=f"'n{execution}'",
        created_at=NOW,
        extra="'{}'",
    )


def _api_key(conn: Connection, user: int, prefix: str) -> int:
    return insert_row(
        conn,
        "api_keys",
        user_id=user,
        name="'ci'",
        prefix=f"'{prefix}'",
        key_hash=f"'hash-{prefix}'",
        created_at=NOW,
    )


def _run_with_history(conn: Connection, owner: int | str, workflow: int | str, tag: str) -> int:
    """A finished run with a step, an event, a file and an approval."""
    run = execution_row(conn, owner, workflow)
    step_and_event_rows(conn, run, "approve")
    _file(conn, owner, run, f"key-{tag}")
    _approval(conn, owner, run)
    return run


def _populate_at_0006() -> Populated:
    """Downgrade to 0006, empty the tables, and write two accounts' worth of everything."""
    downgrade_to("0006")
    with get_engine().begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        alice, bob = user_row(conn, "alice@example.com"), user_row(conn, "bob@example.com")
        workflow = workflow_row(conn, alice, "alice one")
        workflow_row(conn, alice, "alice two")
        bobs = workflow_row(conn, bob, "bob one")
        for owner in (alice, bob):
            credential_row(conn, owner, "openai")  # the same name in both accounts
            _api_key(conn, owner, f"k{owner}")
        credential_row(conn, alice, "slack")
        _run_with_history(conn, alice, workflow, "alice")
        _run_with_history(conn, bob, bobs, "bob")
        anonymous_run = _run_with_history(conn, "NULL", "NULL", "anonymous")
    return Populated(alice, bob, workflow, anonymous_run)


def _upgrade_keeping_every_row(*, after_an_earlier_revision: bool = False) -> None:
    """Upgrade to head and check no row was lost. ``after_an_earlier_revision`` writes to
    the database first in the migration's transaction, as an earlier revision of the same
    run does (on SQLite that transaction must not keep foreign keys on meanwhile)."""
    before = _counts()
    if after_an_earlier_revision:
        with get_engine().begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    else:
        upgrade_head()
    assert _counts() == before
    if get_engine().dialect.name == "sqlite":  # the migration turned them off meanwhile
        assert _scalar("PRAGMA foreign_keys") == 1


def _counts() -> dict[str, int]:
    with get_engine().connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in TABLES
        }


def _scalar(sql: str, **params: object) -> object:
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _personal(user: int) -> int:
    found = _scalar("SELECT id FROM workspaces WHERE personal_of = :user", user=user)
    assert isinstance(found, int)
    return found


def _shared_workspace(conn: Connection, members: dict[int, str]) -> int:
    team = insert_row(conn, "workspaces", name="'Team'", created_at=NOW)
    for user, role in members.items():
        conn.execute(
            text(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) "
                f"VALUES (:team, :user, :role, {NOW})"
            ),
            {"team": team, "user": user, "role": role},
        )
    return team


def _columns(table: str) -> set[str]:
    return {column["name"] for column in inspect(get_engine()).get_columns(table)}


def test_upgrade_moves_every_object_into_its_owners_personal_workspace(database) -> None:  # noqa: F811
    made = _populate_at_0006()

    _upgrade_keeping_every_row()

    with get_engine().connect() as conn:
        workspaces = conn.execute(
            text("SELECT name, personal_of FROM workspaces ORDER BY personal_of")
        ).all()
        memberships = conn.execute(
            text("SELECT workspace_id, user_id, role FROM memberships ORDER BY user_id")
        ).all()
        roles = conn.execute(text("SELECT DISTINCT role FROM api_keys")).scalars().all()
        for table, column in OWNED.items():
            misplaced = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} t LEFT JOIN workspaces w "
                    f"ON w.personal_of = t.{column} "
                    "WHERE t.workspace_id IS DISTINCT FROM w.id AND NOT "
                    f"(t.{column} IS NULL AND t.workspace_id IS NULL)"
                )
            ).scalar_one()
            assert misplaced == 0, f"{misplaced} {table} outside their owner's workspace"
        anonymous = conn.execute(
            text(
                "SELECT (SELECT workspace_id FROM executions WHERE id = :run), "
                "(SELECT workspace_id FROM files WHERE execution_id = :run), "
                "(SELECT workspace_id FROM approvals WHERE execution_id = :run)"
            ),
            {"run": made.anonymous_run},
        ).one()
    personal = {user: _personal(user) for user in (made.alice, made.bob)}
    assert [tuple(row) for row in workspaces] == [
        ("Personal", made.alice),
        ("Personal", made.bob),
    ]
    assert [tuple(row) for row in memberships] == [
        (personal[made.alice], made.alice, "owner"),
        (personal[made.bob], made.bob, "owner"),
    ]
    assert roles == ["owner"]
    assert tuple(anonymous) == (None, None, None)

    # Credential names are now unique per workspace, not per person.
    with get_engine().begin() as conn:
        team = _shared_workspace(conn, {made.alice: "owner"})
        credential_row(conn, made.alice, "openai", workspace_id=team)
    with pytest.raises(IntegrityError), get_engine().begin() as conn:
        credential_row(conn, made.bob, "openai", workspace_id=personal[made.alice])


def test_deleting_an_account_takes_its_personal_workspace_not_its_shared_work(database) -> None:  # noqa: F811
    made = _populate_at_0006()
    _upgrade_keeping_every_row(after_an_earlier_revision=True)
    bobs_personal = _personal(made.bob)
    with get_engine().begin() as conn:
        team = _shared_workspace(conn, {made.alice: "owner", made.bob: "editor"})
        shared_workflow = insert_row(
            conn,
            "workflows",
            owner_id=made.bob,
            workspace_id=team,
            name="'shared'",
            description="''",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        shared_run = execution_row(conn, made.bob, shared_workflow, workspace_id=team)
        shared_credential = credential_row(conn, made.bob, "team key", workspace_id=team)

    with get_engine().begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :bob"), {"bob": made.bob})

    with get_engine().connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM workspaces WHERE id = :w"), {"w": bobs_personal}
            ).scalar_one()
            == 0
        )
        for table in OWNED:
            left = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE workspace_id = :w"),
                {"w": bobs_personal},
            ).scalar_one()
            assert left == 0, f"{left} {table} outlived the personal workspace"
        assert conn.execute(
            text("SELECT user_id FROM memberships WHERE workspace_id = :team"), {"team": team}
        ).scalars().all() == [made.alice]
        for table, row in (
            ("workflows", shared_workflow),
            ("executions", shared_run),
            ("credentials", shared_credential),
        ):
            kept = conn.execute(
                text(f"SELECT owner_id, workspace_id FROM {table} WHERE id = :id"),
                {"id": row},
            ).one()
            assert tuple(kept) == (None, team), f"the shared {table} row went with bob"
        # Alice's own things were not touched.
        assert (
            conn.execute(
                text("SELECT count(*) FROM workflows WHERE owner_id = :alice"),
                {"alice": made.alice},
            ).scalar_one()
            == 2
        )


def test_downgrade_puts_objects_back_under_their_creators_and_upgrades_again(database) -> None:  # noqa: F811
    made = _populate_at_0006()
    before = _counts()
    _upgrade_keeping_every_row()
    with get_engine().begin() as conn:
        team = _shared_workspace(conn, {made.alice: "owner"})
        alices_shared = credential_row(conn, made.alice, "openai", workspace_id=team)
        orphan = insert_row(
            conn,
            "workflows",
            owner_id="NULL",  # its creator's account was deleted
            workspace_id=team,
            name="'orphan'",
            description="''",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        orphans_run = execution_row(conn, made.alice, orphan, workspace_id=team)
        insert_row(
            conn,
            "step_runs",
            execution_id=orphans_run,
            node_id="'n'",
            type="'http'",
            status="'succeeded'",
            attempts=1,
            output_truncated="FALSE",
        )

    downgrade_to("0006")

    tables = set(inspect(get_engine()).get_table_names())
    assert not NEW_TABLES & tables
    for table in OWNED:
        assert "workspace_id" not in _columns(table), table
    assert "role" not in _columns("api_keys")
    # The orphan went with its run and the run's step; alice's shared credential stayed.
    assert _counts() == {**before, "credentials": before["credentials"] + 1}
    assert _scalar("SELECT count(*) FROM workflows WHERE id = :id", id=orphan) == 0
    assert _scalar("SELECT name FROM credentials WHERE id = :id", id=alices_shared) == (
        f"openai (workspace {team})"
    )
    with get_engine().connect() as conn:
        alices = (
            conn.execute(
                text("SELECT name FROM credentials WHERE owner_id = :a ORDER BY name"),
                {"a": made.alice},
            )
            .scalars()
            .all()
        )
        assert alices == ["openai", f"openai (workspace {team})", "slack"]
        assert (
            conn.execute(
                text("SELECT owner_id FROM workflows WHERE id = :w"), {"w": made.workflow}
            ).scalar_one()
            == made.alice
        )

    # The account's foreign keys cascade again, as they did before 0007.
    with get_engine().begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :alice"), {"alice": made.alice})
    with get_engine().connect() as conn:
        for table, column in OWNED.items():
            assert (
                conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {column} = :a"),
                    {"a": made.alice},
                ).scalar_one()
                == 0
            ), f"{table} outlived alice after the downgrade"

    upgrade_head()  # the round trip: bob's one row of each kind lands in his workspace
    assert _scalar("SELECT count(*) FROM workspaces") == 1
    for table, column in OWNED.items():
        assert (
            _scalar(
                f"SELECT count(*) FROM {table} WHERE {column} = :bob "
                "AND workspace_id = (SELECT id FROM workspaces WHERE personal_of = :bob)",
                bob=made.bob,
            )
            == 1
        ), table
