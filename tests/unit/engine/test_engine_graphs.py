"""Validation cannot be bypassed: a property over random graphs with cycles, branches, joins.

Every graph whose edges close a cycle is refused, with a cycle that really is in it; every
graph validation accepts runs to an end status without the runner raising. (A cycle that
closed back into a branch once passed validation and the runner died with ``KeyError``.)
"""

from __future__ import annotations

import asyncio
import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.engine.validate import validate
from tests.helpers.engine_builders import document, edge, make_registry, node, run_doc

CYCLE = re.compile(r"the workflow has a cycle: (.+)$")


@st.composite
def graphs(draw: st.DrawFn) -> tuple[dict, set[tuple[str, str]]]:
    """A trigger and 1–8 echo or condition nodes, each reached from one before it, plus
    random extra edges in any direction (so cycles, joins and branches all occur)."""
    count = draw(st.integers(1, 8))
    ids = [f"n{i}" for i in range(count)]
    kinds = {n: draw(st.sampled_from(["test.echo", "test.condition"])) for n in ids}
    nodes = [node("start", "test.trigger")]
    nodes += [
        node(n, kind, expression="true") if kind == "test.condition" else node(n, kind)
        for n, kind in kinds.items()
    ]
    everyone = ["start", *ids]
    pairs = {(draw(st.sampled_from(everyone[: i + 1])), n) for i, n in enumerate(ids)}
    extra = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=6))
    pairs |= {(a, b) for a, b in extra if a != b}
    edges = [
        edge(a, b, draw(st.sampled_from(["true", "false"])))
        if kinds.get(a) == "test.condition"
        else edge(a, b)
        for a, b in sorted(pairs)
    ]
    return document(nodes, edges), pairs


def _has_cycle(pairs: set[tuple[str, str]]) -> bool:
    nodes = {n for pair in pairs for n in pair}
    indegree = dict.fromkeys(nodes, 0)
    for _, b in pairs:
        indegree[b] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for a, b in pairs:
            if a == n:
                indegree[b] -= 1
                if indegree[b] == 0:
                    ready.append(b)
    return seen < len(nodes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_validation_refuses_every_cycle_and_runs_everything_it_accepts(graph) -> None:
    doc, pairs = graph
    problems = validate(doc, make_registry())
    named = [m.group(1) for p in problems if (m := CYCLE.search(p.message))]
    if _has_cycle(pairs):
        assert named, f"a cyclic graph passed validation: {sorted(pairs)}"
        for path in named:  # each named cycle is made of real edges
            steps = path.split(" → ")
            assert steps[0] == steps[-1]
            assert all((a, b) in pairs for a, b in itertools.pairwise(steps))
    else:
        assert not named
    if not problems:
        result, _ = asyncio.run(run_doc(doc))
        assert result.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
