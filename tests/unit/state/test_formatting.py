"""The page helpers: which URLs name an object."""

from __future__ import annotations

import pytest

from agentflow_app.state.formatting import route_id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/workflows/12", 12),
        ("/executions/7/", 7),
        ("/workflows/0", None),
        ("/workflows/-3", None),
        ("/workflows/١٢", None),  # Arabic-Indic digits are digits to Python, not to us
        ("/workflows/new", None),
        # Beyond any row: it reached the database and the driver raised OverflowError.
        ("/workflows/35106370375366889301068002361344", None),
        ("/workflows/9223372036854775807", 9223372036854775807),
        (None, None),
    ],
)
def test_route_id_names_only_ids_a_row_can_have(path: str | None, expected: int | None) -> None:
    assert route_id(path) == expected
