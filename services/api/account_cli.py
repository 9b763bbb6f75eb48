"""``hangar-bay accounts``: create accounts, issue, list and revoke their API keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

accounts_cli = typer.Typer(
    name="accounts", help="Accounts and their API keys.", no_args_is_help=True
)

T = TypeVar("T")


def _with_connection(work: Callable[..., Awaitable[T]], *args: object) -> T:
    import asyncpg  # noqa: PLC0415

    from common.db import asyncpg_dsn  # noqa: PLC0415
    from common.settings import HangarSettings  # noqa: PLC0415

    settings = HangarSettings()

    async def run() -> T:
        connection = await asyncpg.connect(asyncpg_dsn(settings.database_url), timeout=10)
        try:
            return await work(connection, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


@accounts_cli.command("create")
def create(name: Annotated[str, typer.Argument(help="Account name (unique).")]) -> None:
    """Create an account and print its first API key (shown this once, stored as a hash)."""
    from services.api.account_store import AccountExistsError, create_account  # noqa: PLC0415

    try:
        account_id, key = _with_connection(create_account, name)
    except AccountExistsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"account {account_id} {name}; key id {key.key_id}", err=True)
    typer.echo(key.key)


@accounts_cli.command("add-key")
def add(name: Annotated[str, typer.Argument(help="Account name.")]) -> None:
    """Issue another API key for an account (printed once)."""
    from services.api.account_store import UnknownAccountError, add_key  # noqa: PLC0415

    try:
        key = _with_connection(add_key, name)
    except UnknownAccountError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"key id {key.key_id}", err=True)
    typer.echo(key.key)


@accounts_cli.command("list")
def list_() -> None:
    """Accounts and their keys (ids only; keys themselves are never stored)."""
    from services.api.account_store import list_keys  # noqa: PLC0415

    for row in _with_connection(list_keys):
        state = "revoked" if row.revoked_at else "active" if row.key_id else "no key"
        created = row.created_at.isoformat() if row.created_at else "-"
        typer.echo(f"{row.account_id}\t{row.account}\t{row.key_id or '-'}\t{state}\t{created}")


@accounts_cli.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="Key id, as listed.")]) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from services.api.account_store import revoke_key  # noqa: PLC0415

    if not _with_connection(revoke_key, key_id):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")
