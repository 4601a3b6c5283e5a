"""The `copydesk` command: servers, the demo, a quick generation, shops and drafts.

Heavy modules (gunicorn, the worker, the model) are imported only by the subcommand that runs them.
"""

from __future__ import annotations

import argparse
import os
import sys

from plugin.errors import CopydeskError

SERVERS = {"web": 8000, "devstore": 8001}


def _server_args(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"port to listen on (default {port})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="copydesk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    web = sub.add_parser("web", help="serve the web app (webhooks, health) with gunicorn")
    _server_args(web, SERVERS["web"])
    web.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")

    worker = sub.add_parser("worker", help="run an RQ worker (holds the model for the generate queue)")
    worker.add_argument("--queues", default="publish,default,generate",
                        help="comma-separated queues in priority order (default publish,default,generate)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="jobs run at once in threads sharing one model; generate jobs are then written "
                             "in one batched model call (default 1)")
    worker.add_argument("--sweep-every", type=int, default=60, metavar="SECONDS",
                        help="how often a running worker requeues the jobs of workers that died (default 60)")

    store = sub.add_parser("devstore", help="run the local store emulator (Shopify + WooCommerce)")
    _server_args(store, SERVERS["devstore"])
    store.add_argument("--no-seed", action="store_true", help="start without the sample products")

    demo = sub.add_parser("demo", help="run everything locally on the embedded defaults")
    _server_args(demo, SERVERS["web"])
    demo.add_argument("--store-port", type=int, default=SERVERS["devstore"])
    demo.add_argument("--auto-publish", choices=("woocommerce", "all", "none"), default="woocommerce",
                      help="which demo stores publish drafts without approval (default woocommerce)")
    demo.add_argument("--until-drafts", type=int, default=0,
                      help="stop once this many drafts exist (0: run until Ctrl-C)")

    gen = sub.add_parser("generate", help="print copy for one product, without Redis or a store")
    gen.add_argument("--title", required=True)
    gen.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE", help="an attribute; repeatable")
    gen.add_argument("--category", default="")
    gen.add_argument("--tag", action="append", default=[])
    gen.add_argument("--description", default="", help="existing description (plain text)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--json", action="store_true", help="print JSON")

    shop = sub.add_parser("shop", help="connect and configure stores")
    shop_sub = shop.add_subparsers(dest="shop_command", required=True)
    add = shop_sub.add_parser("add", help="connect a store with a Shopify token or WooCommerce REST keys")
    add.add_argument("--platform", choices=("shopify", "woocommerce"), required=True)
    add.add_argument("--domain", help="Shopify: NAME.myshopify.com")
    add.add_argument("--url", help="WooCommerce: the store URL (https://..., or http:// for a local store)")
    add.add_argument("--token", help="Shopify: Admin API access token (custom app)")
    add.add_argument("--consumer-key")
    add.add_argument("--consumer-secret")
    add.add_argument("--webhook-secret", help="the secret the store signs webhooks with")
    add.add_argument("--api-url", default="", help=argparse.SUPPRESS)  # a local emulator in place of Shopify
    add.add_argument("--auto-publish", action="store_true", help="publish drafts without approval")
    shop_sub.add_parser("list", help="list connected stores")
    sset = shop_sub.add_parser("set", help="change a store's settings")
    sset.add_argument("domain")
    sset.add_argument("changes", nargs="+", metavar="KEY=VALUE")

    drafts = sub.add_parser("drafts", help="review drafts")
    d_sub = drafts.add_subparsers(dest="drafts_command", required=True)
    dl = d_sub.add_parser("list")
    dl.add_argument("--status", default="")
    dl.add_argument("--shop", default="")
    dl.add_argument("--limit", type=int, default=50)
    d_sub.add_parser("show").add_argument("id", type=int)
    dap = d_sub.add_parser("approve")
    dap.add_argument("id", type=int)
    dap.add_argument("--accept-claims", action="store_true",
                     help="accept every claim the checks flagged as not in the product data (audited)")
    rej = d_sub.add_parser("reject")
    rej.add_argument("id", type=int)
    rej.add_argument("--reason", required=True)

    staff = sub.add_parser("staff", help="panel logins for a shop's staff (standalone panel)")
    st_sub = staff.add_subparsers(dest="staff_command", required=True)
    st_add = st_sub.add_parser("add", help="add a login, or set a new password on one")
    st_add.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (default: make one up and print it)")
    st_rm = st_sub.add_parser("remove", help="remove a login; its open sessions stop working")
    for cmd in (st_add, st_rm, st_sub.add_parser("list", help="list a shop's logins")):
        cmd.add_argument("--shop", required=True, help="the shop's domain or store URL")
    for cmd in (st_add, st_rm):
        cmd.add_argument("--email", required=True)

    man = sub.add_parser("manifest", help="app configuration made from manifest.json")
    man_sub = man.add_subparsers(dest="manifest_command", required=True)
    toml = man_sub.add_parser("shopify-toml", help="write shopify.app.toml (for `shopify app deploy`)")
    toml.add_argument("--app-url", default="", help="public URL of this Copydesk (default COPYDESK_APP_URL)")
    toml.add_argument("--client-id", default="", help="the app's client id (default SHOPIFY_API_KEY)")
    toml.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")

    sub.add_parser("rotate-key", help="re-encrypt stored credentials with the current COPYDESK_SECRET_KEY")
    rec = sub.add_parser("reconcile", help="queue what store webhooks missed (run from a timer)")
    rec.add_argument("--shop", default="", help="one shop's domain or store URL (default: every active shop)")
    rec.add_argument("--since", default="", help="ISO time to look back to (default: the shop's watermark)")

    woo = sub.add_parser("woocommerce", help="connected WooCommerce stores: webhook health, disconnect")
    woo_sub = woo.add_subparsers(dest="woocommerce_command", required=True)
    chk = woo_sub.add_parser("check-webhooks", help="re-enable or recreate our webhooks (run from a timer)")
    chk.add_argument("--shop", default="", help="one store's URL (default: every connected WooCommerce store)")
    disc = woo_sub.add_parser("disconnect", help="delete our webhooks from the store and its stored keys")
    disc.add_argument("--shop", required=True, help="the store's URL")

    rds = sub.add_parser("redis", help="the embedded redis-server (when REDIS_URL is unset)")
    rds.add_argument("action", choices=("start", "stop", "status"))

    bf = sub.add_parser("backfill", help="queue copy for a shop's existing products that have none")
    bf.add_argument("--shop", required=True, help="the shop's domain or store URL")
    action = bf.add_mutually_exclusive_group()
    for name, text in (("status", "show the latest run"), ("pause", "stop after the current page"),
                       ("resume", "carry on from the saved cursor"), ("cancel", "stop for good")):
        action.add_argument(f"--{name}", action="store_const", const=name, dest="action", help=text)
    bf.add_argument("--all", action="store_true", help="every product, also those with copy (default: without)")
    bf.add_argument("--limit", type=int, default=1000, help="generate jobs to queue at most (default 1000)")
    bf.add_argument("--page-size", type=int, default=50, help="products per page fetched (default 50)")
    bf.add_argument("--json", action="store_true", help="print the run's state as JSON")

    from model import check_cli, eval_cli, train_cli  # argument definitions only; no torch at import

    for module in (check_cli, train_cli, eval_cli):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args) or 0
    except CopydeskError as err:
        print(f"copydesk: {err}", file=sys.stderr)
        return 2
    except (ValueError, LookupError) as err:
        print(f"copydesk: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args) -> int | None:
    from plugin.settings import Settings

    if args.command == "devstore":
        from devstore.server import main as store_main

        return store_main(args.host, args.port, seed=not args.no_seed)
    if args.command == "generate":
        from plugin.commands import generate

        return generate(Settings.from_env(need_secrets=False), args)
    if args.command == "manifest":
        from plugin.manifest import command

        return command(Settings.from_env(need_secrets=False), args)
    if args.command == "check":
        from model.check_cli import run

        return run(args)
    if args.command in ("train", "eval"):
        from model import eval_cli, train_cli

        module = train_cli if args.command == "train" else eval_cli
        return module.run(Settings.from_env(need_secrets=False), args)
    if args.command == "demo":
        from plugin.demo import run_demo

        return run_demo(args)
    settings = Settings.from_env()
    if args.command == "web":
        return _web(settings, args)
    if args.command == "worker":
        from worker.main import run

        queues = tuple(q.strip() for q in args.queues.split(",") if q.strip())
        return 0 if run(settings, queues, burst=args.burst, concurrency=args.concurrency,
                       sweep_every=args.sweep_every) else 1
    if args.command == "staff":
        from plugin.panel.staff_cli import staff

        return staff(settings, args)
    if args.command == "rotate-key":
        from plugin.crypto import rotate_key_command

        return rotate_key_command(settings, args)
    if args.command == "reconcile":
        from plugin.reconcile import command

        return command(settings, args)
    if args.command == "woocommerce":
        from plugin.install.woocommerce_cli import woocommerce

        return woocommerce(settings, args)
    from plugin import commands

    return getattr(commands, args.command)(settings, args)


def _web(settings, args) -> None:
    from plugin.db import init_db, make_engine
    from plugin.redis_server import connect

    # Once, up front, rather than racing in every gunicorn worker: the embedded Redis and the tables.
    connect(settings.redis_url, settings.instance_path).ping()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    init_db(engine)
    engine.dispose()
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"{args.host}:{args.port}",
            "--workers", str(args.workers), "--access-logfile", "-", "--timeout", "30",
            "plugin.app:create_app()"]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    sys.exit(main())
