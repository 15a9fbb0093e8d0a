"""Migration 0006 (audit log, instance settings, users.disabled) up and down, on a database
with a user in it, and the PostgreSQL trigger that keeps the audit log append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from agentflow_app.db import get_engine
from agentflow_app.migrate import upgrade_head
from agentflow_app.services import users
from agentflow_app.services.audit import AuditAction, record
from tests.helpers.databases import database, downgrade_to  # noqa: F401  (the fixture)


def _user_columns() -> set[str]:
    return {column["name"] for column in inspect(get_engine()).get_columns("users")}


def test_downgrade_drops_what_0006_added_and_keeps_the_users(database) -> None:  # noqa: F811
    made = users.create_user("migrated@example.com", "correct horse battery")
    record(AuditAction.SIGN_IN, actor=made)

    downgrade_to("0005")
    tables = set(inspect(get_engine()).get_table_names())
    assert "audit_events" not in tables and "instance_settings" not in tables
    assert "disabled" not in _user_columns()

    upgrade_head()
    assert "disabled" in _user_columns()
    assert users.find_by_email("migrated@example.com") == made  # the account came through
    with get_engine().connect() as conn:
        assert conn.execute(
            text("SELECT disabled FROM users WHERE id = :id"), {"id": made.id}
        ).scalar() in (False, 0)
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0


def test_postgres_refuses_to_change_or_delete_audit_rows(database) -> None:  # noqa: F811
    if not database.startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's (SQLite has no route to it either)")
    record(AuditAction.SIGN_IN_FAILED, actor_email="someone@example.com")
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), get_engine().begin() as conn:
            conn.execute(text(statement))
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() >= 1
