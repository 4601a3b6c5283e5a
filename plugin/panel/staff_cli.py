"""`copydesk staff add|list|remove`: the logins of the standalone panel."""

from __future__ import annotations

import secrets
import sys

from plugin.panel import accounts
from plugin.settings import Settings


def staff(settings: Settings, args) -> int:
    from plugin.commands import open_session
    from plugin.shops import get_shop

    with open_session(settings) as db:
        shop = get_shop(db, args.shop)
        if args.staff_command == "list":
            for row in accounts.list_staff(db, shop):
                seen = row.last_login_at.strftime("%Y-%m-%d %H:%M") if row.last_login_at else "never"
                print(f"{row.email}\tlast login {seen}")
            return 0
        if args.staff_command == "remove":
            if not accounts.remove_staff(db, shop, args.email):
                print(f"copydesk: no login {args.email!r} for {shop.domain}", file=sys.stderr)
                return 1
            print(f"removed {args.email} from {shop.domain}")
            return 0
        made_up = not args.password_stdin
        password = secrets.token_urlsafe(12) if made_up else sys.stdin.readline().rstrip("\n")
        row = accounts.add_staff(db, shop, args.email, password)
        print(f"{row.email} can log in to {shop.domain} at {settings.app_url.rstrip('/')}/panel/")
        if made_up:
            print(f"password: {password}  (shown once; set your own with --password-stdin)")
    return 0
