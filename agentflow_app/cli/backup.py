"""``agentflow backup PATH`` and ``agentflow restore PATH`` for the embedded default.

The work is in :mod:`agentflow_app.services.backup`; these commands say what happened,
loudly where it matters: the archive holds the encryption keys (anyone with it can read
every credential), and keys given in the environment are not in it.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup(path: Path, force: bool) -> None:
    """Write a consistent snapshot of the SQLite database and the key files to PATH.

    Safe while AgentFlow runs. PostgreSQL deployments use pg_dump instead.
    """
    from agentflow_app.services import backup as service

    report = service.backup(path, force=force)
    click.echo(f"backup written to {report.path} ({report.size_bytes:,} bytes)")
    if report.key_files:
        click.echo(
            f"WARNING: the backup holds the keys ({', '.join(report.key_files)}): anyone "
            "with it can read every stored credential and sign in as any user. Keep it "
            "as safe as the keys themselves.",
            err=True,
        )
    if report.keys_from_environment:
        click.echo(
            f"WARNING: {' and '.join(report.keys_from_environment)} come from the "
            "environment and are NOT in the backup: keep them with it, or credentials "
            "cannot be decrypted after a restore.",
            err=True,
        )
    if report.external_credentials:
        click.echo(
            f"note: {report.external_credentials} credential value(s) live in AWS Secrets "
            "Manager; the backup holds only their references.",
            err=True,
        )


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace the database and key files of a non-empty data dir."
)
def restore(path: Path, force: bool) -> None:
    """Restore a backup made by `agentflow backup` into the (empty) data dir.

    The database is migrated to this version afterwards. Stop AgentFlow before --force.
    """
    from agentflow_app.services import backup as service

    report = service.restore(path, force=force)
    click.echo(
        f"restored {report.users} user(s), {report.workflows} workflow(s), "
        f"{report.credentials} credential(s) and {report.executions} execution(s) "
        f"into {report.database}"
    )
    if report.key_files:
        click.echo(
            f"WARNING: the key files ({', '.join(report.key_files)}) were restored into "
            f"{report.data_dir} (mode 0600); the backup file still holds them.",
            err=True,
        )
    if report.undecryptable:
        click.echo(
            f"WARNING: {len(report.undecryptable)} credential(s) cannot be decrypted with "
            f"the keys now in effect ({', '.join(report.undecryptable)}): set "
            "AGENTFLOW_ENCRYPTION_KEYS to the keys of the backed-up installation.",
            err=True,
        )


COMMANDS = [backup, restore]
