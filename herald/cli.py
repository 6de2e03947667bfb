"""The ``herald`` command: one entry point per part of the stack.

Each command builds the settings once and passes them down (STYLE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

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
    import uvloop

    from api.app import serve

    # uvloop, as in the worker: the loop's share of a send (the socket, the produce's wake-ups)
    # costs less: about 15% less API CPU per send under wrk (BENCHMARKS.md).
    uvloop.run(serve(settings))


def _inbound(settings: Settings, _: argparse.Namespace) -> None:
    from herald.inbound import run_inbound

    asyncio.run(run_inbound(settings))


def _up(settings: Settings, _: argparse.Namespace) -> None:
    from herald.up import run_up

    asyncio.run(run_up(settings))


def _dashboard(settings: Settings, args: argparse.Namespace) -> None:
    from dashboard.run import run_dashboard

    run_dashboard(settings, since=args.since)


def _db_migrate(settings: Settings, _: argparse.Namespace) -> None:
    from herald.db_cli import migrate_command

    asyncio.run(migrate_command(settings))


def _keys_create(settings: Settings, args: argparse.Namespace) -> None:
    from herald.db_cli import create_key_command

    scopes = args.scope or ["full"]
    key = asyncio.run(create_key_command(settings, args.workspace, name=args.name, scopes=scopes))
    print(key)  # only the key on stdout, so `export HERALD_API_KEY=$(herald keys create ...)`


def _workspaces_create(settings: Settings, args: argparse.Namespace) -> None:
    from herald.db_cli import create_workspace_command

    print(asyncio.run(create_workspace_command(settings, args.name, args.plan)))


def _workspaces_list(settings: Settings, _: argparse.Namespace) -> None:
    from herald.db_cli import list_workspaces_command

    print("\n".join(asyncio.run(list_workspaces_command(settings))))


def _workspaces_plan(settings: Settings, args: argparse.Namespace) -> None:
    from herald.db_cli import assign_plan_command

    plan = None if args.plan == "default" else args.plan
    asyncio.run(assign_plan_command(settings, args.workspace, plan))


def _plans_set(settings: Settings, args: argparse.Namespace) -> None:
    from herald.db_cli import set_plan_command
    from tables.plans import Limits

    limits = Limits(args.key_rate, args.key_burst, args.send_rate, args.send_burst)
    asyncio.run(set_plan_command(settings, args.name, limits))


def _plans_list(settings: Settings, _: argparse.Namespace) -> None:
    from herald.db_cli import list_plans_command

    print("\n".join(asyncio.run(list_plans_command(settings))))


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    return parse


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
    sub.add_parser(
        "inbound", help="run the inbound SMTP listener (bounces, complaints, unsubscribes)"
    ).set_defaults(run=_inbound)
    dash = sub.add_parser("dashboard", help="watch the live streams in a terminal dashboard")
    dash.add_argument(
        "--since",
        metavar="TIME",
        help="start the log this far back: a duration (15m, 2h, 1d) or a time "
        "(2025-05-01T12:00:00Z); default: from now on",
    )
    dash.set_defaults(run=_dashboard)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db", required=True)
    db.add_parser("migrate", help="apply pending migrations").set_defaults(run=_db_migrate)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create a key (and its workspace if needed)")
    create.add_argument("--workspace", required=True, help="workspace name")
    create.add_argument("--name", default="", help="a label for the key")
    create.add_argument(
        "--scope",
        action="append",
        choices=["full", "send", "read"],
        help="repeat for several; default: full",
    )
    create.set_defaults(run=_keys_create)

    ws = sub.add_parser("workspaces", help="workspaces (tenants)")
    ws_sub = ws.add_subparsers(dest="workspaces", required=True)
    ws_create = ws_sub.add_parser("create", help="create a workspace; print its id")
    ws_create.add_argument("name")
    ws_create.add_argument("--plan", help="a plan name (default: the server's default limits)")
    ws_create.set_defaults(run=_workspaces_create)
    ws_sub.add_parser("list", help="id, name and plan of every workspace").set_defaults(
        run=_workspaces_list
    )
    ws_plan = ws_sub.add_parser("set-plan", help="put a workspace on a plan")
    ws_plan.add_argument("workspace", help="workspace id or name")
    ws_plan.add_argument("plan", help="a plan name, or 'default' for the server's defaults")
    ws_plan.set_defaults(run=_workspaces_plan)

    pl = sub.add_parser("plans", help="plans: the limits workspaces get")
    pl_sub = pl.add_subparsers(dest="plans", required=True)
    pl_set = pl_sub.add_parser("set", help="create a plan or change its limits")
    pl_set.add_argument("name")
    pl_set.add_argument(
        "--key-rate", type=_positive(float), required=True, help="requests/s per key"
    )
    pl_set.add_argument("--key-burst", type=_positive(int), required=True, help="burst per key")
    pl_set.add_argument(
        "--send-rate", type=_positive(float), required=True, help="sends/s per workspace"
    )
    pl_set.add_argument(
        "--send-burst", type=_positive(int), required=True, help="send burst per workspace"
    )
    pl_set.set_defaults(run=_plans_set)
    pl_sub.add_parser("list", help="every plan and its limits").set_defaults(run=_plans_list)
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
