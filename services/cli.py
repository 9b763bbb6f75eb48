"""``hangar-bay``: one command-line entry point for every process.

Each command imports its service only when it runs, so a process loads what it needs alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from common.logs import configure_logging
from common.settings import HangarSettings
from services.api.account_cli import accounts_cli

app = typer.Typer(
    name="hangar-bay",
    help="Hangar Bay: EVE Online public contracts, from ESI through NATS JetStream to PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

S = TypeVar("S", bound=BaseSettings)


def load_settings(kind: type[S]) -> S:
    """Build settings from the environment, or exit naming each bad variable."""
    try:
        settings = kind()
    except ValidationError as error:
        prefix = str(kind.model_config.get("env_prefix", ""))
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            typer.echo(f"invalid setting {prefix}{field.upper()}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    if isinstance(settings, HangarSettings):
        configure_logging(settings.log_level, settings.log_json)
    return settings


@app.command()
def fetcher(
    once: Annotated[
        bool, typer.Option("--once", help="Run one full cycle of every region, then exit.")
    ] = False,
) -> None:
    """Sweep ESI's public contracts and publish what changed to JetStream."""
    from services.fetcher.main import run  # noqa: PLC0415
    from services.fetcher.settings import FetcherSettings  # noqa: PLC0415

    raise typer.Exit(run(load_settings(FetcherSettings), once=once))


@app.command()
def persister(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once nothing is pending on the consumer.")
    ] = False,
) -> None:
    """Apply the stream's messages to PostgreSQL."""
    from services.persister.main import run  # noqa: PLC0415
    from services.persister.settings import PersisterSettings  # noqa: PLC0415

    run(load_settings(PersisterSettings), until_idle=until_idle)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to bind (HANGAR_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (HANGAR_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API."""
    from services.api.main import run  # noqa: PLC0415
    from services.api.settings import ApiSettings  # noqa: PLC0415

    run(load_settings(ApiSettings), host=host, port=port)


@app.command()
def notifier() -> None:
    """Match newly applied contracts against saved searches; deliver alerts and webhooks."""
    from services.notifier.main import run  # noqa: PLC0415
    from services.notifier.settings import NotifierSettings  # noqa: PLC0415

    run(load_settings(NotifierSettings))


@app.command("esi-sim")
def esi_sim(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    seed: Annotated[int, typer.Option(help="Seed of the generated universe.")] = 1,
    regions: Annotated[
        str, typer.Option(help="REGION:CONTRACTS pairs, comma-separated.")
    ] = "10000002:3000,10000043:1000,10000032:800",
    churn: Annotated[int, typer.Option(help="Contracts replaced per region per generation.")] = 50,
    cache_seconds: Annotated[int, typer.Option(help="Cache lifetime of a list generation.")] = 1800,
    auto_advance: Annotated[
        bool, typer.Option(help="Advance the generation by itself when its cache expires.")
    ] = True,
    big_contracts: Annotated[int, typer.Option(help="Contracts with more than 1000 items.")] = 1,
) -> None:
    """Serve a deterministic ESI simulator (for tests, benchmarks and offline use)."""
    from services.esi_sim.main import parse_regions, run  # noqa: PLC0415

    configure_logging()
    try:
        region_counts = parse_regions(regions)
    except ValueError as error:
        typer.echo(f"invalid --regions: {error}", err=True)
        raise typer.Exit(2) from None
    run(
        host,
        port,
        seed=seed,
        regions=region_counts,
        churn_per_generation=churn,
        cache_seconds=cache_seconds,
        auto_advance=auto_advance,
        big_contracts=big_contracts,
    )


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (idempotent)."""
    import asyncio  # noqa: PLC0415

    from common.migration import ensure_database, upgrade  # noqa: PLC0415

    settings = load_settings(HangarSettings)
    try:
        if asyncio.run(ensure_database(settings.database_url)):
            typer.echo("database created")
        upgrade(settings.database_url, revision)
        if revision == "head":
            from common.sde.loader import load_catalog  # noqa: PLC0415

            loaded = asyncio.run(load_catalog(settings.database_url))
            typer.echo(
                f"SDE build {loaded.build_number}: "
                + (
                    f"loaded in {loaded.seconds} s ({loaded.types_changed} types changed, "
                    f"{loaded.contracts_updated} contracts updated)"
                    if loaded.loaded
                    else f"already loaded (build {loaded.previous_build})"
                )
            )
    except (OSError, ConnectionError) as error:
        typer.echo(f"cannot reach PostgreSQL at HANGAR_DATABASE_URL: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"database migrated to {revision}")


@app.command()
def replay(
    into: Annotated[
        str | None,
        typer.Option(
            help="Target database URL (created and migrated if needed). "
            "Default: a new database beside HANGAR_DATABASE_URL's, named <name>_replay_<time>."
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start again from the first message.")
    ] = False,
    keep_indexes: Annotated[
        bool,
        typer.Option(
            "--keep-indexes",
            help="Keep the read-side indexes of an empty target while replaying (by default "
            "they are built once at the end, which is faster).",
        ),
    ] = False,
) -> None:
    """Rebuild a database from the JetStream stream, through the persister's apply code."""
    from datetime import UTC, datetime  # noqa: PLC0415
    from urllib.parse import urlsplit  # noqa: PLC0415

    from common.db import asyncpg_dsn, with_database  # noqa: PLC0415
    from services.rebuild.replay import run  # noqa: PLC0415

    settings = load_settings(HangarSettings)
    if into is None:
        name = urlsplit(asyncpg_dsn(settings.database_url)).path.lstrip("/")
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        into = with_database(settings.database_url, f"{name}_replay_{stamp}")
    typer.echo(f"replaying into {into}", err=True)
    raise typer.Exit(
        run(settings, into, restart=restart, migrate=True, defer_indexes=not keep_indexes)
    )


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="URL of the reference database.")],
    target: Annotated[str, typer.Argument(help="URL of the database to check.")],
    shown: Annotated[int, typer.Option(help="Differences shown per table.")] = 20,
) -> None:
    """Compare two databases contract by contract, item by item, status included."""
    import asyncio  # noqa: PLC0415

    from services.rebuild.verify import compare, render  # noqa: PLC0415

    configure_logging()
    differences = asyncio.run(compare(source, target, shown=shown))
    for line in render(differences, shown=shown):
        typer.echo(line)
    raise typer.Exit(0 if all(d.equal for d in differences) else 1)


@app.command()
def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if a document in docs/ is out of date.")
    ] = False,
) -> None:
    """Write the OpenAPI (HTTP API) and AsyncAPI (messages) documents into docs/."""
    from services.documents import DOCS_DIR, generated_documents  # noqa: PLC0415

    stale = []
    for name, content in generated_documents().items():
        path = DOCS_DIR / name
        if path.exists() and path.read_text() == content:
            continue
        stale.append(name)
        if not check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(content)
            typer.echo(f"wrote docs/{name}")
    if check and stale:
        typer.echo(f"out of date: {', '.join(stale)} (run: hangar-bay docs)", err=True)
        raise typer.Exit(1)


@app.command()
def up(
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Run against the bundled ESI simulator (offline).")
    ] = False,
    data_dir: Annotated[
        Path, typer.Option(help="Where embedded servers keep their data.", envvar="HANGAR_DATA_DIR")
    ] = Path(".hangar-bay"),
    host: Annotated[str, typer.Option(help="Interface of the API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    sim_port: Annotated[int, typer.Option(help="Port of the simulator (0: any free).")] = 0,
) -> None:
    """Run the whole stack on this machine: embedded servers where no URLs are configured."""
    from services.stack.up import run_stack  # noqa: PLC0415

    settings = load_settings(HangarSettings)
    code = run_stack(
        settings, data_dir=data_dir.resolve(), simulate=simulate, api_host=host, api_port=port,
        sim_port=sim_port,
    )  # fmt: skip
    raise typer.Exit(code)


app.add_typer(accounts_cli)

if __name__ == "__main__":
    app(prog_name="hangar-bay")
