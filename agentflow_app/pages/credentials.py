"""The /credentials page (SPEC §10): list, add with a form per kind, replace, delete, test.

The add and replace forms are uncontrolled (no state var holds what is typed) and reset
when submitted, so a secret goes to the server once and never comes back.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.secrets.kinds import KINDS, FormField, form_fields
from agentflow_app.state.auth import AuthState
from agentflow_app.state.credentials import CredentialRow, CredentialsState


def _input(field: FormField) -> rx.Component:
    if field.widget == "select":
        control = rx.select(field.choices, name=field.name, default_value=field.default)
    elif field.widget == "checkbox":
        control = rx.checkbox(field.help, name=field.name)
    else:
        control = rx.input(
            name=field.name,
            type=field.widget,
            default_value=field.default,
            placeholder=field.help,
            auto_complete="off" if field.secret else None,
            width="100%",
        )
    return rx.vstack(
        rx.text(field.label + ("" if field.required else " (optional)"), size="2", weight="medium"),
        control,
        rx.cond(
            CredentialsState.field_errors.contains(field.name),
            rx.text(CredentialsState.field_errors[field.name], color_scheme="red", size="1"),
        ),
        spacing="1",
        width="100%",
    )


def _fields(kind: str, *, with_name: bool) -> rx.Component:
    name = [
        rx.vstack(
            rx.text("Name", size="2", weight="medium"),
            rx.input(name="name", placeholder="e.g. anthropic-prod", width="100%"),
            rx.cond(
                CredentialsState.field_errors.contains("name"),
                rx.text(CredentialsState.field_errors["name"], color_scheme="red", size="1"),
            ),
            spacing="1",
            width="100%",
        )
    ]
    return rx.vstack(
        *(name if with_name else []),
        *(_input(field) for field in form_fields(kind)),
        spacing="3",
        width="100%",
    )


def _form(kind: str, *, with_name: bool, on_submit, form_id: str, label: str) -> rx.Component:
    return rx.form(
        rx.vstack(
            _fields(kind, with_name=with_name),
            rx.cond(
                CredentialsState.form_error != "",
                rx.callout(CredentialsState.form_error, color_scheme="red", size="1", width="100%"),
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button(label, type="submit", id=f"{form_id}-submit"),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=on_submit,
        reset_on_submit=True,
        id=form_id,
        width="100%",
    )


def _add_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(
                rx.icon("plus", size=16),
                "Add credential",
                id="add-credential",
                # Offered to roles that may change credentials (the service refuses others).
                display=rx.cond(AuthState.can_edit_here, "inline-flex", "none"),
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Add a credential"),
            rx.vstack(
                rx.text("Kind", size="2", weight="medium"),
                rx.select.root(
                    rx.select.trigger(id="credential-kind"),
                    rx.select.content(
                        *(rx.select.item(model.label, value=kind) for kind, model in KINDS.items())
                    ),
                    value=CredentialsState.add_kind,
                    on_change=CredentialsState.choose_kind,
                ),
                rx.match(
                    CredentialsState.add_kind,
                    *(
                        (
                            kind,
                            _form(
                                kind,
                                with_name=True,
                                on_submit=CredentialsState.create,
                                form_id=f"add-{kind}",
                                label="Save",
                            ),
                        )
                        for kind in KINDS
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            max_width="32em",
        ),
        open=CredentialsState.add_open,
        on_open_change=CredentialsState.set_add_open,
    )


def _replace_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Replace the value of ", CredentialsState.replace_name),
            rx.dialog.description(
                "The new value takes effect for the next run. The old one is not shown.",
                size="2",
                margin_bottom="1em",
            ),
            rx.match(
                CredentialsState.replace_kind,
                *(
                    (
                        kind,
                        _form(
                            kind,
                            with_name=False,
                            on_submit=CredentialsState.replace,
                            form_id=f"replace-{kind}",
                            label="Replace",
                        ),
                    )
                    for kind in KINDS
                ),
            ),
            max_width="32em",
        ),
        open=CredentialsState.replace_id != 0,
        on_open_change=CredentialsState.set_replace_open,
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete ", CredentialsState.delete_name, "?"),
            rx.cond(
                CredentialsState.delete_used_by.length() > 0,
                rx.vstack(
                    rx.text(
                        "These workflows use it and will fail validation until they name "
                        "another credential:",
                        size="2",
                    ),
                    rx.foreach(
                        CredentialsState.delete_used_by,
                        lambda name: rx.text("• ", name, size="2", weight="medium"),
                    ),
                    spacing="1",
                    id="delete-used-by",
                ),
                rx.text("No workflow uses it.", size="2"),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        on_click=CredentialsState.confirm_delete,
                        id="confirm-delete",
                    )
                ),
                justify="end",
                margin_top="1em",
            ),
        ),
        open=CredentialsState.delete_id != 0,
        on_open_change=CredentialsState.set_delete_open,
    )


def _row(row: CredentialRow) -> rx.Component:
    key = row["id"].to_string()
    return rx.table.row(
        rx.table.cell(rx.text(row["name"], weight="medium")),
        rx.table.cell(row["kind_label"]),
        rx.table.cell(rx.code(row["hint"])),
        rx.table.cell(row["created"]),
        rx.table.cell(row["last_used"]),
        rx.table.cell(
            rx.cond(
                row["used_by"].length() > 0,
                rx.text(row["used_by"].join(", "), size="2"),
                rx.text("—", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.hstack(
                    rx.button(
                        "Test",
                        size="1",
                        variant="soft",
                        loading=CredentialsState.testing.get(key, False),
                        on_click=CredentialsState.test(row["id"]),
                    ),
                    rx.button(
                        "Replace",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=CredentialsState.open_replace(row["id"]),
                    ),
                    rx.button(
                        "Delete",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=CredentialsState.open_delete(row["id"]),
                    ),
                    spacing="2",
                ),
                rx.cond(
                    CredentialsState.test_messages.contains(key),
                    rx.text(
                        CredentialsState.test_messages[key],
                        size="1",
                        color_scheme=rx.cond(CredentialsState.test_ok[key], "green", "red"),
                        class_name="test-result",
                    ),
                ),
                spacing="1",
            )
        ),
        data_credential=row["name"],
    )


def credentials_page() -> rx.Component:
    return app_shell(
        rx.hstack(
            rx.text(
                "Keys and tokens your workflows use. Values are encrypted and never shown "
                "again after saving.",
                size="2",
                color_scheme="gray",
            ),
            rx.spacer(),
            _add_dialog(),
            width="100%",
            align="center",
            margin_bottom="1em",
        ),
        rx.cond(
            CredentialsState.items.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(title)
                            for title in (
                                "Name",
                                "Kind",
                                "Value",
                                "Created",
                                "Last used",
                                "Used by",
                                "",
                            )
                        )
                    )
                ),
                rx.table.body(rx.foreach(CredentialsState.items, _row)),
                width="100%",
                id="credentials-table",
            ),
            rx.cond(
                CredentialsState.loaded,
                rx.text("No credentials yet.", color_scheme="gray", id="credentials-empty"),
            ),
        ),
        _replace_dialog(),
        _delete_dialog(),
        title="Credentials",
    )
