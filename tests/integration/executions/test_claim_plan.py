"""A claim on PostgreSQL reads its owner's open runs only, whatever plan the server keeps.

The claim is a function (migration 0010) whose statements PostgreSQL plans once per
connection and may keep those plans for the connection's life. A plan made while the table was small (a new
installation's first runs) must still read a handful of rows once the owner has a long
history and a deep queue (a ``flow.map`` queues one run per item): a plan that searched
the owner's runs and filtered their status visited all of them at every claim, and one
that took the smallest id of the owner's queued runs read every queued run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, select, text

from agentflow_app.db import get_engine
from agentflow_app.services import users
from agentflow_app.services.executions import claim, create
from agentflow_app.services.executions.rows import EXECUTIONS
from tests.helpers.databases import postgres_database, use_database

DOCUMENT = {
    "schema_version": 1,
    "name": "claim plan",
    "nodes": [{"id": "start", "type": "trigger.manual", "data": {"config": {}}}],
    "edges": [],
}
HISTORY, QUEUE = 3000, 500


@pytest.fixture
def generic_plans(tmp_path) -> Iterator[None]:
    """A migrated PostgreSQL database whose connections plan every prepared statement
    generically (as the server may after five runs), with autovacuum held off the table
    (its ANALYZE would make the server plan again)."""
    with postgres_database() as url, use_database(url, tmp_path):
        engine = get_engine()
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE executions SET (autovacuum_enabled = false)"))
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.exec_driver_sql(
                f'ALTER DATABASE "{name}" SET plan_cache_mode = force_generic_plan'
            )
        engine.dispose()  # the setting applies to connections made from now on
        yield


def visited(plan: dict) -> int:
    """Rows a plan node and those under it read from ``executions``: returned or
    filtered out."""
    own = 0
    if plan.get("Relation Name") == "executions":
        own = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
    return own + sum(visited(child) for child in plan.get("Plans", []))


def test_a_claim_planned_while_the_table_was_small_reads_a_handful_of_rows(generic_plans):
    owner = users.create_user("claims@example.com", "claim plan pw 1")
    for _ in range(3):  # planned now, with three rows in the table
        assert claim(create(DOCUMENT, {}, owner_id=owner.id), "w") is not None
    engine = get_engine()
    with engine.begin() as conn:
        template = conn.execute(select(EXECUTIONS).limit(1)).mappings().one()
        past = {k: v for k, v in template.items() if k != "id"} | {"status": "succeeded"}
        conn.execute(insert(EXECUTIONS), [past] * HISTORY)
        conn.execute(insert(EXECUTIONS), [past | {"status": "queued"}] * QUEUE)
        oldest = conn.execute(
            select(func.min(EXECUTIONS.c.id)).where(EXECUTIONS.c.status == "queued")
        ).scalar_one()
    queued = create(DOCUMENT, {}, owner_id=owner.id)

    # Callers one at a time made the pool one connection: the claims' plans are on it (a
    # claim on another would be planned now, on a long history). Its next claim sends
    # back the plans of the function's statements as they ran.
    plans: list[dict] = []
    with engine.connect() as conn:
        conn.connection.driver_connection.add_notice_handler(
            lambda notice: plans.append(json.loads(notice.message_primary.split("plan:", 1)[1]))
        )
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_format = json",
            "SET auto_explain.log_level = notice",
        ):
            conn.exec_driver_sql(setting)
        conn.commit()  # a rolled-back SET is undone
    taken = claim(queued, "w")

    (take,) = [p["Plan"] for p in plans if "UPDATE executions" in p["Query Text"]]
    assert visited(take) < 20, json.dumps(take)[:3000]
    assert taken is not None and taken.execution_id == oldest  # the owner's oldest queued run
