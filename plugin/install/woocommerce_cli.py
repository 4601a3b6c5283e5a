"""`copydesk woocommerce check-webhooks|disconnect`: the operator's side of connected WooCommerce stores.

`check-webhooks` is meant for a timer (cron, a systemd timer: every 10–15 minutes): WooCommerce never
retries a failed delivery and disables a webhook after repeated failures, and this puts ours back.
"""

from __future__ import annotations

import json


def woocommerce(settings, args) -> int:
    from plugin.install import woocommerce_webhooks as hooks
    from plugin.redis_server import connect
    from plugin.shops import get_shop
    from worker.context import Context

    env = Context.build(settings, connect(settings.redis_url, settings.instance_path))
    if args.woocommerce_command == "check-webhooks":
        if args.shop:
            with env.sessions() as db:
                shop = get_shop(db, args.shop)
            report = {shop.domain: hooks.check_shop(env, shop.id)}
        else:
            report = hooks.check_all(env)
        print(json.dumps(report, indent=2))
        return 1 if any("error" in r for r in report.values()) else 0
    with env.sessions() as db:
        shop = get_shop(db, args.shop)
    if shop.platform != "woocommerce":
        raise ValueError(f"{shop.domain} is not a WooCommerce store")
    result = hooks.disconnect(env, shop.id, actor="cli")
    print(f"{shop.domain}: {result['status']}; webhooks deleted: {', '.join(result.get('deleted', [])) or 'none'}"
          + (f"; NOT deleted: {', '.join(result['not_deleted'])}" if result.get("not_deleted") else ""))
    return 0
