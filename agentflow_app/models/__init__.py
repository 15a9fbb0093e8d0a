"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from agentflow_app.models.approval import Approval
from agentflow_app.models.audit import AuditEvent, InstanceSetting
from agentflow_app.models.credential import Credential
from agentflow_app.models.execution import Execution, ExecutionEvent, StepRun
from agentflow_app.models.file import StoredFile
from agentflow_app.models.user import ApiKey, RevokedToken, User
from agentflow_app.models.workflow import Workflow, WorkflowVersion
from agentflow_app.models.workspace import (
    Membership,
    Workspace,
    WorkspaceInvitation,
    WorkspaceRole,
)

__all__ = [
    "ApiKey",
    "Approval",
    "AuditEvent",
    "Credential",
    "Execution",
    "ExecutionEvent",
    "InstanceSetting",
    "Membership",
    "RevokedToken",
    "StepRun",
    "StoredFile",
    "User",
    "Workflow",
    "WorkflowVersion",
    "Workspace",
    "WorkspaceInvitation",
    "WorkspaceRole",
]
