"""The ``herald`` command: one entry point per part of the stack.

Each command builds the settings once and passes them down (STYLE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from config.errors import HeraldConfigError
from config.settings import Settings, load_settings
from tables.errors import HeraldTableError


def _broker(settings: Settings, _: argparse.Namespace) -> None:
    from config.broker import run_broker

    asyncio.run(run_broker(settings))


def _worker(settings: Settings, _: argparse.Namespace) -> None:
    from herald.worker import run_worker

    run_worker(settings)


def _api(settings: Settings, _: argparse.Namespace) -> None:
    from api.app import serve

    asyncio.run(serve(settings))


def _up(settings: Settings, _: argparse.Namespace) -> None:
    from herald.up import run_up

    asyncio.run(run_up(settings))


def _db_migrate(settings: Settings, _: argparse.Namespace) -> None:
    from herald.db_cli import migrate_command

    asyncio.run(migrate_command(settings))


def _keys_create(settings: Settings, args: argparse.Namespace) -> None:
    from herald.db_cli import create_key_command

    key = asyncio.run(create_key_command(settings, args.workspace))
    print(key)  # only the key on stdout, so `export HERALD_API_KEY=$(herald keys create ...)`


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="herald", description="Herald: email sending platform on Kafka."
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything (broker, worker, API, capture SMTP)").set_defaults(
        run=_up
    )
    sub.add_parser("broker", help="run the embedded Kafka broker").set_defaults(run=_broker)
    sub.add_parser("worker", help="run the stream agents").set_defaults(run=_worker)
    sub.add_parser("api", help="run the HTTP API").set_defaults(run=_api)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db", required=True)
    db.add_parser("migrate", help="apply pending migrations").set_defaults(run=_db_migrate)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create a key (and its workspace if needed)")
    create.add_argument("--workspace", required=True, help="workspace name")
    create.set_defaults(run=_keys_create)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        args.run(settings, args)
    except (HeraldConfigError, HeraldTableError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as exc:  # a HERALD_* variable or TOML value of the wrong shape
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"herald: invalid setting: {problems}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
