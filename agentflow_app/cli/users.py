"""``agentflow user create``: make an account from the command line (SPEC §3).

Works whether or not signup is open, so an operator can close ``/register`` and still
hand out accounts. The first account of an installation is an admin either way.
"""

from __future__ import annotations

import click


@click.group()
def user() -> None:
    """Manage accounts."""


@user.command("create")
@click.option("--email", required=True, help="The account's email (its sign-in name).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="8+ characters; asked for when not given, so it stays out of the shell history.",
)
@click.option("--name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
def create(email: str, password: str, name: str, admin: bool) -> None:
    """Create an account."""
    from agentflow_app.services import users

    actor = users.create_user(email, password, name, admin=admin)
    role = "admin" if actor.is_admin else "user"
    click.echo(f"created {role} {actor.email} (id {actor.id})")


COMMANDS = [user]
