"""Alembic owns the schema: migrations reach head and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import agentflow_app.models  # noqa: F401
from agentflow_app.db import get_engine


def test_migrated_schema_matches_the_models(stack) -> None:
    with get_engine().connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": stack.kind == "embedded"}
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], f"models and migrations disagree on {stack.kind}: {differences}"


def test_every_table_exists_with_its_list_page_and_claim_indexes(stack) -> None:
    inspector = inspect(get_engine())
    tables = set(inspector.get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    execution_indexes = {
        ix["name"]: ix["column_names"] for ix in inspector.get_indexes("executions")
    }
    assert {"ix_executions_owner_created", "ix_executions_workflow_created"} <= set(
        execution_indexes
    )
    # Without it a planner lacking statistics (SQLite's, always) read the owner's whole
    # history on every claim: 27 ms after 100,000 runs (bench/claims.py).
    assert execution_indexes.get("ix_executions_owner_status") == ["owner_id", "status"]
    uniques = {u["name"] for u in inspector.get_unique_constraints("execution_events")}
    assert "uq_event_execution_seq" in uniques


def test_document_column_is_jsonb_on_postgres(stack) -> None:
    columns = {c["name"]: c for c in inspect(get_engine()).get_columns("workflow_versions")}
    type_name = type(columns["document"]["type"]).__name__
    assert type_name == ("JSONB" if stack.kind == "postgres" else "JSON")
