"""Upgrading an old database to the newest schema keeps every row, on SQLite and PostgreSQL.

Revisions 0004, 0006 and 0007 rebuild tables on SQLite (batch mode: copy, drop, rename);
with foreign keys on, each DROP used to delete the rows that reference the table: from
0005, an upgrade emptied workflows, credentials and API keys (``users`` rebuilt) and the
steps and events of runs (``executions`` rebuilt). Rows are written with raw SQL against
the 0003 schema, the oldest one the tests keep data through.
"""

from __future__ import annotations

from sqlalchemy import text

from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
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

KEPT = (
    "users",
    "workflows",
    "workflow_versions",
    "credentials",
    "api_keys",
    "executions",
    "step_runs",
    "execution_events",
)


def _counts() -> dict[str, int]:
    with get_engine().connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in KEPT
        }


def test_upgrading_from_0003_keeps_every_row(database) -> None:  # noqa: F811
    downgrade_to("0003")
    with get_engine().begin() as conn:
        for email in ("ann@example.com", "ben@example.com"):
            owner = user_row(conn, email)
            workflow = workflow_row(conn, owner, "Kept")
            credential_row(conn, owner, "key")
            insert_row(
                conn,
                "api_keys",
                user_id=owner,
                name="'ci'",
                prefix=f"'af_{owner}'",
                key_hash=f"'hash-{owner}'",
                created_at=NOW,
            )
            run = execution_row(conn, owner, workflow)
            step_and_event_rows(conn, run, "start")
    before = _counts()
    assert set(before.values()) == {2}, before

    upgrade_head()

    assert _counts() == before
    with get_engine().connect() as conn:
        homeless = conn.execute(
            text("SELECT count(*) FROM workflows WHERE workspace_id IS NULL")
        ).scalar_one()
    assert homeless == 0
