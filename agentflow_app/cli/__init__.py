"""The ``agentflow`` command (SPEC §3). Each command lives in a module of this package."""

from __future__ import annotations

import sys

import click

from agentflow_app.errors import AgentFlowError


class AgentFlowGroup(click.Group):
    """Turns any AgentFlowError into one readable line and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AgentFlowError as exc:
            click.echo(f"agentflow: {exc}", err=True)
            sys.exit(2)


@click.group(cls=AgentFlowGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """AgentFlow: draw LLM workflows, execute them, watch them run."""


def _register() -> None:
    from agentflow_app.cli import server

    for command in server.COMMANDS:
        main.add_command(command)
    from agentflow_app.cli import backup, keys

    for command in [*keys.COMMANDS, *backup.COMMANDS]:
        main.add_command(command)
    from agentflow_app.cli import approvals, documents, run, users

    for command in [*users.COMMANDS, *documents.COMMANDS, run.run_command, *approvals.COMMANDS]:
        main.add_command(command)


_register()
