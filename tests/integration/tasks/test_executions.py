"""The execution task's answer to a message that is not a run's token: a log line, no crash.

Tokens come from our own dispatch, but the broker is a shared Redis list: whatever lands
there must not stop a worker or reach the database's claim (whose function takes a
bigint: a larger id would be an error there, not an empty claim).
"""

from __future__ import annotations

import pytest

from tests.helpers.stack import Stack


@pytest.mark.parametrize("bad", ["12", None, True, 0, -3, 2**63, 2**80])
def test_a_message_with_a_bad_execution_id_is_logged_and_dropped(
    stack: Stack, bad: object, caplog: pytest.LogCaptureFixture
) -> None:
    from tasks.executions import run  # needs the stack's Redis to import

    result = run.apply(args=[bad])

    assert result.successful(), result.traceback
    assert f"ignoring a message with a bad execution id {bad!r}" in caplog.text
