"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from COPYDESK_SECRET_KEY.

The derivation is HKDF-SHA256 with a fixed, purpose-specific `info`, so the same secret key can sign
sessions elsewhere without the two uses sharing key material. Without the secret key, a database dump
shows only ciphertext.

Rotation: `Vault(new, previous=[old])` seals with the new key and opens with the new key, then each
previous one (MultiFernet). `copydesk rotate-key` (`rotate_all`) re-seals every stored value with the
current key, after which the previous key can be dropped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plugin.errors import CopydeskError

_INFO = b"copydesk credentials v1"


class DecryptError(CopydeskError):
    """The stored credentials cannot be read with this secret key (was COPYDESK_SECRET_KEY changed?)."""


def _fernet(secret_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def split_keys(value: str | Iterable[str]) -> list[str]:
    """COPYDESK_SECRET_KEY_PREVIOUS as a list: comma-separated text, or already a list; blanks dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


class Vault:
    """Encrypts and decrypts small JSON documents (tokens, keys, webhook secrets)."""

    def __init__(self, secret_key: str, previous: str | Iterable[str] = ()):
        self._current = _fernet(secret_key)
        older = [_fernet(key) for key in split_keys(previous) if key != secret_key]
        self._fernet = MultiFernet([self._current, *older])

    @classmethod
    def for_settings(cls, settings) -> Vault:
        """The vault of a running process: the current key, and the previous ones during a rotation."""
        return cls(settings.secret_key, getattr(settings, "secret_key_previous", ""))

    def seal(self, data: dict) -> bytes:
        return self._current.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes) -> dict:
        try:
            return json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken as err:
            raise DecryptError("stored credentials cannot be decrypted with this COPYDESK_SECRET_KEY "
                               "(or COPYDESK_SECRET_KEY_PREVIOUS)") from err

    def is_current(self, token: bytes) -> bool:
        """Whether `token` is sealed with the current key (rotation has nothing to do for it)."""
        try:
            self._current.decrypt(bytes(token))
        except InvalidToken:
            return False
        return True

    def reseal(self, token: bytes) -> bytes:
        """`token` sealed again with the current key (DecryptError when no known key opens it)."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken as err:
            raise DecryptError("stored credentials cannot be decrypted with this COPYDESK_SECRET_KEY "
                               "(or COPYDESK_SECRET_KEY_PREVIOUS)") from err


FERNET_PREFIX = b"gAAAAA"
"""Every Fernet token starts so (version byte 0x80, then a timestamp's zero high bytes, in base64)."""


def sealed_columns(metadata) -> list[tuple]:
    """(table, column) for every binary column of the schema: where `Vault.seal` output is stored
    (shops.credentials, and whatever sealed column a later table adds). Values that are not Fernet
    tokens are left alone by `rotate_all`."""
    from sqlalchemy import LargeBinary

    return [(table, column) for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, LargeBinary)]


def rotate_all(db, vault: Vault) -> dict:
    """Re-seal every sealed value with the vault's current key, one transaction per shop (rows of other
    tables last, in one more). Idempotent: a value already sealed with the current key is not touched.
    Returns counts {shops, rotated, current, unreadable}; a shop with an unreadable value keeps all its
    values as they were (its transaction is rolled back) and is counted in `unreadable_shops`."""
    from sqlalchemy import select, true, update

    from plugin.db import Base

    columns = sealed_columns(Base.metadata)
    counts = {"shops": 0, "rotated": 0, "current": 0, "unreadable": 0, "unreadable_shops": []}
    shops_table = Base.metadata.tables["shops"]
    owners = [row[0] for row in db.execute(select(shops_table.c.id).order_by(shops_table.c.id))]
    for owner in [*owners, None]:
        changed, current, bad = 0, 0, 0
        for table, column in columns:
            key = next(iter(table.primary_key.columns))
            if table is shops_table:
                if owner is None:
                    continue
                where = key == owner
            elif "shop_id" in table.c:
                where = table.c.shop_id == owner if owner is not None else table.c.shop_id.is_(None)
            elif owner is None:
                where = true()
            else:
                continue
            query = select(key, column).where(column.is_not(None), where)
            for pk, value in db.execute(query).all():
                if not bytes(value).startswith(FERNET_PREFIX):
                    continue
                if vault.is_current(value):
                    current += 1
                    continue
                try:
                    resealed = vault.reseal(value)
                except DecryptError:
                    bad += 1
                    continue
                # Only if unchanged meanwhile: a token refresh that wrote since is already sealed with
                # the current key, and must not be overwritten with the older value.
                done = db.execute(update(table).where(key == pk, column == value).values({column.name: resealed}))
                changed += done.rowcount
                current += 1 - done.rowcount
        if bad:
            db.rollback()
            counts["unreadable"] += bad
            counts["unreadable_shops"].append(owner)
        else:
            db.commit()
            counts["rotated"] += changed
        counts["current"] += current
        counts["shops"] += owner is not None
    return counts


def rotate_key_command(settings, args) -> int:
    """`copydesk rotate-key`: re-seal everything with COPYDESK_SECRET_KEY; prints counts, never values."""
    from plugin.commands import open_session

    with open_session(settings) as db:
        counts = rotate_all(db, Vault.for_settings(settings))
    print(f"rotate-key: {counts['shops']} shop(s); {counts['rotated']} value(s) re-encrypted with the current "
          f"key, {counts['current']} already current, {counts['unreadable']} unreadable")
    if counts["unreadable"]:
        print("rotate-key: shop id(s) " + ", ".join(str(s) for s in counts["unreadable_shops"]) + " left as they "
              "were: set the key they were sealed with in COPYDESK_SECRET_KEY_PREVIOUS and run again")
        return 1
    return 0
