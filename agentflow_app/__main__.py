"""``python -m agentflow_app`` is the ``agentflow`` command."""

from agentflow_app.cli import main

main(prog_name="agentflow")
