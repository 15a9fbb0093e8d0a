"""The example plugin, loaded the two ways AgentFlow loads plugins, then run as a workflow.

Nothing is installed: an entry point is published by a throwaway ``.dist-info`` folder on
``sys.path`` (exactly what ``pip install`` would write), and the folder route copies the
module into a temporary AGENTFLOW_PLUGINS folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentflow_app.engine.node import Node, RunContext
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.plugins import load_entry_points, load_folder

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class Start(Node):
    type = "trigger.manual"
    label = "Start"
    is_trigger = True
    inputs = ()

    async def run(self, ctx: RunContext, config):
        return dict(ctx.inputs)


def publish_entry_point(site: Path) -> None:
    """Write what `pip install` writes for our pyproject's entry point."""
    dist = site / "agentflow_example_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: agentflow-example-plugin\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[agentflow.nodes]\nexample = agentflow_example_plugin\n"
    )


async def sum_prices(registry: Registry) -> dict:
    doc = {
        "name": "prices",
        "nodes": [
            {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
            {
                "id": "total",
                "type": "math.sum",
                "data": {"config": {"numbers": "{{ inputs.prices }}", "round_to": 2}},
            },
        ],
        "edges": [{"id": "e1", "source": "start", "target": "total"}],
    }
    result = await run(
        doc,
        {"prices": [1.25, 2.5, 3]},
        MemoryStore(),
        registry=registry,
        http=None,
        credentials=None,
    )
    assert result.status == ExecutionStatus.SUCCEEDED, result.error
    return result.steps["total"].output


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.register_node(Start)
    return registry


async def test_loaded_from_its_entry_point(registry, tmp_path, monkeypatch) -> None:
    publish_entry_point(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PACKAGE_ROOT))
    load_entry_points(registry)
    assert registry.plugin_errors == []
    assert registry.tool("word_count").description
    assert await sum_prices(registry) == {"sum": 6.75, "count": 3}


async def test_loaded_from_the_plugins_folder(registry, tmp_path) -> None:
    shutil.copytree(PACKAGE_ROOT / "agentflow_example_plugin", tmp_path / "example")
    load_folder(registry, tmp_path)
    assert registry.plugin_errors == []
    assert await sum_prices(registry) == {"sum": 6.75, "count": 3}


async def test_the_tool_counts_words(registry, tmp_path) -> None:
    shutil.copytree(PACKAGE_ROOT / "agentflow_example_plugin", tmp_path / "example")
    load_folder(registry, tmp_path)
    tool = registry.tool("word_count")
    args = tool.Args(text="three little words")
    assert await tool().run(None, args) == {"words": 3}
