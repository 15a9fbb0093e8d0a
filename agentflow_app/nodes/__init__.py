"""The built-in node types and agent tools (SPEC §6), one module per family.

:func:`register_builtin` is what :func:`agentflow_app.catalog.register_builtins`
calls. Nodes get everything outside the process through ``RunContext``: HTTP through
``ctx.http`` (the SSRF-guarded client) and credentials through ``ctx.credentials``.

Agent tools never take a credential name from the model. A tool that needs one declares
``credential_kinds`` (a class attribute: the kinds it accepts) and reads the name the
agent node's author chose from ``ctx.services["tool_credentials"][tool_id]`` at run time
(the ``llm.agent`` node puts its ``tool_credentials`` config there); the editor offers
credentials of those kinds next to each tool.
"""

from __future__ import annotations

from agentflow_app.engine.registry import Registry
from agentflow_app.nodes.approval import Approval
from agentflow_app.nodes.email import EmailSend, EmailSendTool
from agentflow_app.nodes.file_extract import FileExtract
from agentflow_app.nodes.flow import Map, Subworkflow, WaitNode
from agentflow_app.nodes.http import HttpRequest, HttpRequestTool
from agentflow_app.nodes.hubspot import HubSpotContact, HubSpotContactTool
from agentflow_app.nodes.logic import Condition, Switch
from agentflow_app.nodes.output import Output
from agentflow_app.nodes.slack import SlackMessage, SlackMessageTool
from agentflow_app.nodes.transform import Template
from agentflow_app.nodes.triggers import ManualTrigger, ScheduleTrigger, WebhookTrigger

NODES = (
    ManualTrigger,
    WebhookTrigger,
    ScheduleTrigger,
    HttpRequest,
    Condition,
    Switch,
    Template,
    FileExtract,
    Output,
    SlackMessage,
    HubSpotContact,
    EmailSend,
    Approval,
    WaitNode,
    Subworkflow,
    Map,
)
TOOLS = (HttpRequestTool, SlackMessageTool, HubSpotContactTool, EmailSendTool)


def register_builtin(registry: Registry) -> None:
    """Add every built-in node type and agent tool to ``registry``."""
    for node in NODES:
        registry.register_node(node)
    for tool in TOOLS:
        registry.register_tool(tool)
