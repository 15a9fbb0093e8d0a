"""Plugins as a user would ship them: :data:`GOOD`, the source of a plugin module with a node
and a tool (``{prefix}`` names them), :func:`write` to drop a module into the plugins folder,
and :func:`publish` to install a fake distribution whose entry points a site folder lists."""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD = """
from agentflow_app.engine.node import Node, NodeConfig, Tool
from pydantic import BaseModel

class Shout(Node):
    type = "{prefix}.shout"
    label = "Shout"
    class Config(NodeConfig):
        text: str = ""
    async def run(self, ctx, config):
        return {{"text": config.text.upper()}}

class Echo(Tool):
    id = "{prefix}_echo"
    description = "Echo the text back"
    class Args(BaseModel):
        text: str
    async def run(self, ctx, args):
        return args.text
"""


def write(folder: Path, name: str, source: str) -> None:
    (folder / name).write_text(textwrap.dedent(source))


def publish(site: Path, dist: str, entries: dict[str, str]) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[agentflow.nodes]\n{lines}")
