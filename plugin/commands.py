"""The `copydesk` subcommands that work on shops, drafts, the embedded Redis and one-off generation."""

from __future__ import annotations

import json
import time

from plugin.crypto import Vault
from plugin.db import init_db, make_engine, make_sessionmaker
from plugin.settings import Settings


def open_session(settings: Settings):
    """A database session for a command (tables created if missing)."""
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    init_db(engine)
    return make_sessionmaker(engine)()


def generate(settings: Settings, args) -> int:
    """Print copy for one product with the configured model: no Redis, no store, no database."""
    from model.backend import load_generator
    from model.copy import write_copy

    attributes = {}
    for item in args.attr:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--attr takes NAME=VALUE, got {item!r}")
        attributes[name.strip()] = value.strip()
    record = {"id": "0", "title": args.title, "category": args.category, "vendor": "", "tags": args.tag,
              "attributes": attributes, "variants": [], "description": args.description}
    started = time.perf_counter()
    generator = load_generator(settings.model, device=settings.device, threads=settings.torch_threads or None,
                               cache_dir=settings.cache_dir, api_key=settings.openai_api_key)
    loaded = time.perf_counter()
    result = write_copy(generator, record, seed=args.seed)
    done = time.perf_counter()
    if args.json:
        print(json.dumps({"fields": result.fields, "model": result.model_id, "prompt_version": result.prompt_version,
                          "notes": list(result.notes)}, indent=2, ensure_ascii=False))
    else:
        for name, value in result.fields.items():
            print(f"--- {name}\n{value}")
        print(f"--- model {result.model_id} · prompt {result.prompt_version} · "
              f"load {loaded - started:.1f}s · generate {done - loaded:.1f}s")
    return 0


def shop(settings: Settings, args) -> int:
    from plugin import shops

    db = open_session(settings)
    if args.shop_command == "list":
        for row in shops.list_shops(db):
            state = "uninstalled" if row.uninstalled_at else "active"
            conf = shops.effective_settings(row)
            print(f"{row.id}\t{row.platform}\t{row.domain}\t{state}\tauto_publish={conf['auto_publish']}")
        return 0
    if args.shop_command == "set":
        target = shops.get_shop(db, args.domain)
        changes = {}
        for item in args.changes:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE, got {item!r}")
            changes[key.strip()] = shops.parse_setting(key.strip(), raw)
        print(json.dumps(shops.set_settings(db, target, changes), indent=2))
        return 0
    settings_changes = {"auto_publish": True} if args.auto_publish else {}
    if args.platform == "shopify":
        if not args.domain or not args.token:
            raise ValueError("shopify needs --domain NAME.myshopify.com and --token")
        creds = {"access_token": args.token}
        if args.webhook_secret:
            creds["webhook_secret"] = args.webhook_secret
        row = shops.add_shop(db, Vault.for_settings(settings), platform="shopify", domain=args.domain,
                             credentials=creds, api_url=args.api_url, settings=settings_changes)
    else:
        if not args.url:
            raise ValueError("woocommerce needs --url")
        creds = {"consumer_key": args.consumer_key, "consumer_secret": args.consumer_secret,
                 "webhook_secret": args.webhook_secret}
        row = shops.add_shop(db, Vault.for_settings(settings), platform="woocommerce", domain=args.url,
                             credentials=creds, api_url=args.url, settings=settings_changes)
    print(f"connected {row.platform} store {row.domain} (id {row.id})")
    return 0


def drafts(settings: Settings, args) -> int:
    from plugin import drafts as ops
    from plugin import jobs, shops
    from plugin.redis_server import connect

    db = open_session(settings)
    if args.drafts_command == "list":
        shop_id = shops.get_shop(db, args.shop).id if args.shop else None
        for d in ops.list_drafts(db, shop_id=shop_id, status=args.status or None, limit=args.limit):
            print(f"{d.id}\tshop {d.shop_id}\tproduct {d.product_id}\t{d.status}\t{d.fields.get('seo_title', '')}")
        return 0
    draft = ops.get_draft(db, args.id)
    if args.drafts_command == "show":
        print(json.dumps({
            "id": draft.id, "shop_id": draft.shop_id, "product_id": draft.product_id, "status": draft.status,
            "reason": draft.reason, "fields": draft.fields, "previous": draft.previous,
            "model": draft.model_id, "revision": draft.model_revision, "prompt_version": draft.prompt_version,
            "seed": draft.seed, "checks": draft.checks, "created_at": draft.created_at.isoformat(),
        }, indent=2, ensure_ascii=False))
        return 0
    if args.drafts_command == "reject":
        ops.reject(db, draft, actor="cli", reason=args.reason)
        print(f"draft {draft.id} rejected")
        return 0
    if draft.status != "approved":  # an approved draft whose publish never ran is queued again
        accept = [ops.claim_key(c) for c in ops.open_claims(draft)] if args.accept_claims else []
        for claim in ops.open_claims(draft) if accept else []:
            print(f"accepting “{claim.get('text')}” ({claim.get('field')}): not in the product data")
        ops.approve(db, draft, actor="cli", accept=accept)
    job = jobs.enqueue_publish(connect(settings.redis_url, settings.instance_path), draft.id, actor="cli",
                               shop_id=draft.shop_id)
    print(f"draft {draft.id} approved; publishing (job {job.id})")
    return 0


def redis(settings: Settings, args) -> int:
    from plugin.redis_server import EmbeddedRedis

    if settings.redis_url:
        print("REDIS_URL is set: Copydesk uses that server and runs none of its own")
        return 0
    embedded = EmbeddedRedis(settings.instance_path)
    if args.action == "start":
        embedded.ensure_running()
        print(f"embedded redis-server running at {embedded.url}")
    elif args.action == "stop":
        print("stopped" if embedded.shutdown() else "not running")
    else:
        running = embedded.ping()
        print(f"{'running' if running else 'not running'} ({embedded.url})")
        return 0 if running else 1
    return 0


def backfill(settings: Settings, args) -> int:
    """Start a catalogue backfill for a shop, or show, pause, resume or cancel its run."""
    from plugin import backfill as runs
    from plugin import shops
    from plugin.redis_server import connect

    with open_session(settings) as db:
        target = shops.get_shop(db, args.shop)
    if target.uninstalled_at is not None:
        raise ValueError(f"shop {target.domain} is uninstalled")
    conn = connect(settings.redis_url, settings.instance_path)
    action = args.action or "start"
    if action == "status":
        state = runs.status(conn, target.id)
    elif action == "start":
        state = runs.start(conn, target.id, all_products=args.all, limit=args.limit, page_size=args.page_size,
                           job_timeout=settings.job_timeout)
    else:
        state = getattr(runs, action)(conn, target.id)
    if args.json:
        print(json.dumps(state, indent=2))
    elif state is None:
        print(f"no backfill has run for {target.domain}")
    else:
        print(f"{target.domain}: {runs.describe(state)}")
    return 0 if state is not None else 1
