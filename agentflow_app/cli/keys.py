"""``agentflow rotate-keys``: move every stored credential to the newest encryption key."""

from __future__ import annotations

import click


@click.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every credential value under the first AGENTFLOW_ENCRYPTION_KEYS key.

    Put the new key first, keep the old one after it, run this, then drop the old key.
    """
    from agentflow_app.services.credentials import rotate_keys as rotate

    count = rotate()
    noun = "value" if count == 1 else "values"
    click.echo(f"re-encrypted {count} credential {noun} under the first encryption key")


COMMANDS = [rotate_keys]
