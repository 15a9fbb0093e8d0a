"""/members: the workspace the tab acts in: its name, members with roles, invitations, and
leaving or deleting it. Owners get the controls; everyone else reads."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.pages.settings import page_header
from agentflow_app.state.members import (
    ROLE_HELP,
    ROLES,
    SENDING,
    SENT,
    InvitationRow,
    MemberRow,
    MembersState,
)


def _confirm(
    trigger: rx.Component, title: str, description: str, action: str, on_confirm, testid: str
) -> rx.Component:
    """A button that asks before it does something that cannot be undone."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(action, color_scheme="red", on_click=on_confirm, data_testid=testid)
                ),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )


def _role_select(testid: str, **props) -> rx.Component:
    """A select of the four roles (its trigger is what tests and people click)."""
    return rx.select.root(
        rx.select.trigger(data_testid=testid),
        rx.select.content(*(rx.select.item(role, value=role) for role in ROLES)),
        **props,
    )


def _role_control(member: MemberRow) -> rx.Component:
    return rx.cond(
        MembersState.can_manage,
        _role_select(
            "member-role",
            value=member["role"],
            on_change=lambda role: MembersState.change_role(member["user_id"], role),
            size="1",
        ),
        rx.badge(member["role"], variant="soft", data_testid="member-role-badge"),
    )


def _member_actions(member: MemberRow) -> rx.Component:
    leave = _confirm(
        rx.button("Leave workspace", size="1", variant="soft", color_scheme="amber"),
        "Leave this workspace?",
        "You lose access to its workflows, runs and credentials until an owner invites you again.",
        "Leave",
        MembersState.leave,
        "confirm-leave",
    )
    remove = _confirm(
        rx.button("Remove", size="1", variant="soft", color_scheme="red"),
        "Remove this member?",
        "They lose access to this workspace at once; their API keys for it stop working.",
        "Remove",
        MembersState.remove(member["user_id"]),
        "confirm-remove",
    )
    return rx.cond(
        member["is_you"],
        rx.cond(MembersState.personal, rx.fragment(), leave),
        rx.cond(MembersState.can_manage, remove, rx.fragment()),
    )


def _member_row(member: MemberRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.hstack(
                rx.text(member["email"], size="2", weight="medium"),
                rx.cond(member["is_you"], rx.badge("you", color_scheme="gray", size="1")),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.text(member["name"], size="2")),
        rx.table.cell(_role_control(member)),
        rx.table.cell(rx.text(member["joined"], size="2", color_scheme="gray")),
        rx.table.cell(_member_actions(member)),
        align="center",
        data_testid="member-row",
        data_email=member["email"],
    )


def _members() -> rx.Component:
    return rx.vstack(
        rx.heading("Members", size="4"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Role", width="9em"),
                    rx.table.column_header_cell("Joined", width="9em"),
                    rx.table.column_header_cell("", width="11em"),
                )
            ),
            rx.table.body(rx.foreach(MembersState.members, _member_row)),
            variant="surface",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _invitation_row(invitation: InvitationRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(invitation["email"], size="2")),
        rx.table.cell(rx.badge(invitation["role"], variant="soft")),
        rx.table.cell(rx.text(invitation["invited_by"], size="2", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                invitation["expired"],
                rx.badge("expired", color_scheme="red"),
                rx.text(invitation["expires"], size="2", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.button(
                "Revoke",
                on_click=MembersState.revoke(invitation["id"]),
                size="1",
                variant="soft",
                color_scheme="red",
                data_testid="revoke-invitation",
            )
        ),
        align="center",
        data_testid="invitation-row",
        data_email=invitation["email"],
    )


def _invitations() -> rx.Component:
    return rx.vstack(
        rx.heading("Pending invitations", size="4"),
        rx.cond(
            MembersState.invitations.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Email"),
                        rx.table.column_header_cell("Role", width="9em"),
                        rx.table.column_header_cell("Invited by"),
                        rx.table.column_header_cell("Expires", width="12em"),
                        rx.table.column_header_cell("", width="7em"),
                    )
                ),
                rx.table.body(rx.foreach(MembersState.invitations, _invitation_row)),
                variant="surface",
                width="100%",
            ),
            rx.text(
                "No pending invitations.",
                size="2",
                color_scheme="gray",
                data_testid="invitations-empty",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _invite_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Invite someone", size="4"),
            rx.text(
                "They get a link by email when this server can send email; you see it too, "
                "to pass on otherwise (chat...). It works once, for 7 days, for the account "
                "with that email; inviting the same email again replaces the link.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="email",
                        type="email",
                        placeholder="colleague@example.com",
                        required=True,
                        width="20em",
                        data_testid="invite-email",
                    ),
                    _role_select("invite-role", name="role", default_value="editor"),
                    rx.button("Make an invitation link", type="submit", data_testid="invite"),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                on_submit=MembersState.invite,
                reset_on_submit=True,
            ),
            rx.text(
                "Roles: " + "; ".join(f"{role}: {ROLE_HELP[role]}" for role in ROLES) + ".",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _link() -> rx.Component:
    return rx.cond(
        MembersState.link != "",
        rx.callout(
            rx.vstack(
                rx.text(MembersState.link_label, weight="medium", data_testid="invitation-label"),
                rx.code(MembersState.link, data_testid="invitation-link", word_break="break-all"),
                rx.text(
                    rx.match(
                        MembersState.link_email,
                        (
                            SENDING,
                            "Sending it by email. It is shown here this once: copy it if you "
                            "want to pass it on yourself.",
                        ),
                        (SENT, "It was emailed to them. It is shown here this once."),
                        "Copy it now: it is shown this once. Send it to them yourself.",
                    ),
                    size="1",
                    data_testid="invitation-hint",
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("copy", size=14),
                        "Copy link",
                        on_click=[
                            rx.set_clipboard(MembersState.link),
                            rx.toast.success("Link copied.", id="link-copied"),
                        ],
                        size="1",
                        variant="soft",
                        data_testid="copy-invitation-link",
                    ),
                    rx.button(
                        "Done", on_click=MembersState.dismiss_link, size="1", variant="outline"
                    ),
                    spacing="2",
                ),
                spacing="2",
            ),
            icon="link",
            color_scheme="blue",
            width="100%",
        ),
    )


def _name() -> rx.Component:
    return rx.cond(
        MembersState.can_manage,
        rx.form(
            rx.hstack(
                rx.input(
                    name="name",
                    key=MembersState.workspace_name,
                    default_value=MembersState.workspace_name,
                    max_length=200,
                    required=True,
                    width="20em",
                    data_testid="workspace-name",
                ),
                rx.button("Rename", type="submit", variant="soft", data_testid="rename-workspace"),
                spacing="2",
                align="center",
            ),
            on_submit=MembersState.rename,
        ),
        rx.heading(MembersState.workspace_name, size="5", data_testid="workspace-title"),
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            _name(),
            rx.hstack(
                rx.cond(
                    MembersState.personal,
                    rx.badge("personal", color_scheme="gray"),
                    rx.badge("shared", color_scheme="blue"),
                ),
                rx.text("Your role here: ", size="2", color_scheme="gray"),
                rx.badge(MembersState.role, variant="surface", data_testid="my-role"),
                spacing="2",
                align="center",
            ),
            rx.cond(
                MembersState.personal,
                rx.text(
                    "Your personal workspace is yours alone. To work with others, create a "
                    "shared workspace (New workspace in the side bar) and invite them there.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.cond(
                    ~MembersState.can_manage,
                    rx.text(
                        "Only owners change members, roles and the workspace itself.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
            ),
            spacing="3",
        ),
        width="100%",
    )


def _danger() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text("Delete this workspace", weight="bold", size="2"),
                rx.text(
                    "Its workflows, runs, credentials, files and API keys are deleted for "
                    "every member. The audit log keeps its entries.",
                    size="2",
                    color_scheme="gray",
                ),
                spacing="1",
            ),
            rx.spacer(),
            _confirm(
                rx.button("Delete workspace", color_scheme="red", variant="soft"),
                "Delete " + MembersState.workspace_name + "?",
                "Everything in it goes, for every member. This cannot be undone.",
                "Delete workspace",
                MembersState.delete_workspace,
                "confirm-delete-workspace",
            ),
            align="center",
            width="100%",
        ),
        width="100%",
    )


def members_page() -> rx.Component:
    return app_shell(
        page_header("Workspace members"),
        rx.cond(
            MembersState.error != "",
            rx.callout(
                MembersState.error,
                icon="circle-alert",
                color_scheme="red",
                width="100%",
                margin_bottom="1em",
                data_testid="members-error",
            ),
        ),
        rx.cond(
            MembersState.message != "",
            rx.callout(
                MembersState.message,
                icon="check",
                color_scheme="green",
                width="100%",
                margin_bottom="1em",
                data_testid="members-message",
            ),
        ),
        rx.cond(
            MembersState.loaded,
            rx.vstack(
                _summary(),
                _link(),
                rx.cond(MembersState.can_manage & ~MembersState.personal, _invite_form()),
                _members(),
                rx.cond(MembersState.can_manage & ~MembersState.personal, _invitations()),
                rx.cond(MembersState.can_manage & ~MembersState.personal, _danger()),
                spacing="5",
                width="100%",
            ),
            rx.cond(
                MembersState.error == "",
                rx.center(rx.spinner(size="3"), padding="4em"),
            ),
        ),
    )
