"""The editor's Execute button and its inputs dialog (state: :mod:`agentflow_app.state.execute`).

Put ``execute_button()`` in the editor's toolbar; it brings its dialog along.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.editor import EditorState
from agentflow_app.state.execute import ExecuteState, InputField


def _control(field: InputField) -> rx.Component:
    return rx.match(
        field["type"],
        (
            "boolean",
            rx.hstack(
                rx.switch(
                    checked=field["checked"],
                    on_change=lambda checked: ExecuteState.set_checked(field["name"], checked),
                    data_testid="input-" + field["name"],
                ),
                rx.text(rx.cond(field["checked"], "true", "false"), size="2", color_scheme="gray"),
                align="center",
                spacing="2",
            ),
        ),
        (
            "object",
            rx.text_area(
                value=field["value"],
                on_change=lambda value: ExecuteState.set_value(field["name"], value),
                rows="4",
                font_family="var(--code-font-family)",
                placeholder='{"key": "value"}',
                width="100%",
                data_testid="input-" + field["name"],
            ),
        ),
        (
            "array",
            rx.text_area(
                value=field["value"],
                on_change=lambda value: ExecuteState.set_value(field["name"], value),
                rows="3",
                font_family="var(--code-font-family)",
                placeholder='["a", "b"]',
                width="100%",
                data_testid="input-" + field["name"],
            ),
        ),
        rx.input(
            value=field["value"],
            on_change=lambda value: ExecuteState.set_value(field["name"], value),
            type=rx.cond(
                (field["type"] == "number") | (field["type"] == "integer"), "number", "text"
            ),
            width="100%",
            data_testid="input-" + field["name"],
        ),
    )


def _field(field: InputField) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(
                field["name"], size="2", weight="medium", font_family="var(--code-font-family)"
            ),
            rx.badge(field["type"], size="1", variant="soft", color_scheme="gray"),
            rx.cond(field["required"], rx.text("required", size="1", color_scheme="red")),
            spacing="2",
            align="center",
        ),
        rx.cond(
            field["description"] != "",
            rx.text(field["description"], size="1", color_scheme="gray"),
        ),
        _control(field),
        rx.cond(
            field["files"] != "",
            rx.text(
                rx.icon("paperclip", size=12),
                " ",
                field["files"],
                size="1",
                data_testid="input-files-" + field["name"],
            ),
        ),
        rx.cond(field["error"] != "", rx.text(field["error"], size="1", color_scheme="red")),
        spacing="1",
        width="100%",
    )


UPLOAD_ID = "execute-files"


def _progress() -> rx.Component:
    """How much of the dropped files the browser has sent, while it sends and after."""
    return rx.cond(
        ExecuteState.upload_percent >= 0,
        rx.vstack(
            rx.progress(value=ExecuteState.upload_percent, max=100, data_testid="upload-bar"),
            rx.text(
                rx.cond(ExecuteState.upload_percent < 100, "Uploading ", "Uploaded "),
                ExecuteState.upload_percent,
                "% of ",
                ExecuteState.upload_size,
                size="1",
                color_scheme="gray",
                data_testid="upload-progress",
            ),
            spacing="1",
            width="100%",
        ),
    )


def _dropzone() -> rx.Component:
    """Drop files (or click to choose): each goes to a file input, its name and size shown."""
    return rx.vstack(_upload(), _progress(), spacing="2", width="100%")


def _upload() -> rx.Component:
    return rx.upload(
        rx.vstack(
            rx.icon("upload", size=18),
            rx.text("Drop files here, or click to choose", size="2"),
            align="center",
            spacing="1",
        ),
        id=UPLOAD_ID,
        multiple=True,
        on_drop=ExecuteState.upload(
            rx.upload_files(upload_id=UPLOAD_ID, on_upload_progress=ExecuteState.upload_progress)
        ),
        border="1px dashed var(--gray-a8)",
        border_radius="var(--radius-3)",
        padding="1em",
        width="100%",
        cursor="pointer",
        data_testid="execute-upload",
    )


def _dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Execute workflow"),
            rx.dialog.description(
                "Runs the saved version (v",
                ExecuteState.version,
                ") with these inputs; the last run's values are filled in.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                EditorState.dirty,
                rx.callout(
                    "You have unsaved changes: save first to run them.",
                    icon="triangle-alert",
                    color_scheme="amber",
                    size="1",
                    margin_top="0.75em",
                ),
            ),
            rx.vstack(
                rx.foreach(ExecuteState.fields, _field),
                rx.cond(ExecuteState.takes_files, _dropzone()),
                rx.cond(
                    ExecuteState.error != "",
                    rx.callout(
                        ExecuteState.error, icon="circle-alert", color_scheme="red", size="1"
                    ),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        rx.icon("play", size=14),
                        "Run",
                        on_click=ExecuteState.submit,
                        loading=ExecuteState.busy,
                        data_testid="execute-run",
                    ),
                    justify="end",
                    spacing="3",
                    width="100%",
                ),
                spacing="4",
                margin_top="1em",
            ),
            max_width="520px",
            data_testid="execute-dialog",
        ),
        open=ExecuteState.open,
        on_open_change=ExecuteState.set_open,
    )


def execute_button() -> rx.Component:
    """Execute, for the editor's toolbar: asks for the trigger's inputs, then opens the run."""
    return rx.fragment(
        rx.button(
            rx.icon("play", size=15),
            "Execute",
            on_click=ExecuteState.open_dialog,
            loading=ExecuteState.busy & ~ExecuteState.open,
            color_scheme="green",
            data_testid="execute",
        ),
        _dialog(),
    )
