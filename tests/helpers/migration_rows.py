"""Rows written with raw SQL against an older schema, for the migration tests: what a
migration does to rows that already exist, written without the services (they are
written for the newest schema)."""

from __future__ import annotations

from sqlalchemy import Connection, text

NOW = "'2026-01-01 00:00:00'"


def insert_row(conn: Connection, table: str, **values: object) -> int:
    """One row; values are SQL literals (so one statement works on both backends)."""
    columns = ", ".join(values)
    literals = ", ".join(str(value) for value in values.values())
    return conn.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES ({literals}) RETURNING id")
    ).scalar_one()


def user_row(conn: Connection, email: str) -> int:
    return insert_row(
        conn,
        "users",
        email=f"'{email}'",
        name="'Someone'",
        password_hash="'x'",
        is_admin="FALSE",
        token_version=0,
        created_at=NOW,
    )


def execution_row(
    conn: Connection, owner: int | str, workflow: int | str, **workspace: object
) -> int:
    return insert_row(
        conn,
        "executions",
        workflow_id=workflow,
        owner_id=owner,
        document="'{}'",
        status="'succeeded'",
        trigger="'manual'",
        inputs="'{}'",
        usage="'{}'",
        cancel_requested="FALSE",
        last_seq=1,
        created_at=NOW,
        **workspace,
    )


def workflow_row(conn: Connection, owner: int, name: str) -> int:
    workflow = insert_row(
        conn,
        "workflows",
        owner_id=owner,
        name=f"'{name}'",
        description="''",
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    insert_row(
        conn,
        "workflow_versions",
        workflow_id=workflow,
        version=1,
        document="'{}'",
        created_by=owner,
        created_at=NOW,
    )
    return workflow


def credential_row(conn: Connection, owner: int | str, name: str, **workspace: object) -> int:
    return insert_row(
        conn,
        "credentials",
        owner_id=owner,
        name=f"'{name}'",
        kind="'api_key'",
        ciphertext="'x'",
        hint="'…'",
        created_at=NOW,
        updated_at=NOW,
        **workspace,
    )


def step_and_event_rows(conn: Connection, run: int, node_id: str) -> None:
    """A succeeded step of ``run`` and its queued event."""
    insert_row(
        conn,
        "step_runs",
        execution_id=run,
        node_id=f"'{node_id}'",
        type="'approval'",
        status="'succeeded'",
        attempts=1,
        output_truncated="FALSE",
    )
    insert_row(
        conn,
        "execution_events",
        execution_id=run,
        seq=1,
        ts=NOW,
        type="'execution.queued'",
        data="'{}'",
    )
