"""Credentials at rest: sealed with COPYDESK_SECRET_KEY, readable during a rotation, re-sealed by rotate-key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.cli import main
from plugin.crypto import DecryptError, Vault
from plugin.db import Shop, init_db, make_engine, make_sessionmaker
from plugin.settings import Settings
from plugin.shops import add_shop

OLD, NEW = "old-secret-key-0123456789abcdef", "new-secret-key-fedcba9876543210"
TOKEN = "shpat_very_secret_token_value"
WOO = {"consumer_key": "ck_secret_consumer", "consumer_secret": "cs_secret_consumer", "webhook_secret": "hookSecret"}


@pytest.fixture
def db(database_url):
    engine = make_engine(database_url)
    init_db(engine)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def _seed(db, vault):
    add_shop(db, vault, platform="shopify", domain="one.myshopify.com", credentials={"access_token": TOKEN})
    add_shop(db, vault, platform="woocommerce", domain="https://two.example", credentials=WOO)


def _raw(db) -> list[bytes]:
    db.expire_all()
    return [bytes(c) for c in db.scalars(select(Shop.credentials).order_by(Shop.id))]


def _env(monkeypatch, tmp_path, database_url, key, previous=""):
    monkeypatch.setenv("COPYDESK_SECRET_KEY", key)
    monkeypatch.setenv("COPYDESK_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    if previous:
        monkeypatch.setenv("COPYDESK_SECRET_KEY_PREVIOUS", previous)
    else:
        monkeypatch.delenv("COPYDESK_SECRET_KEY_PREVIOUS", raising=False)


def test_the_column_holds_no_plaintext(db):
    _seed(db, Vault(OLD))
    for raw in _raw(db):
        for secret in [TOKEN, *WOO.values(), "access_token", "consumer"]:
            assert secret.encode() not in raw
    with pytest.raises(DecryptError, match="COPYDESK_SECRET_KEY"):
        Vault(NEW).open(_raw(db)[0])


def test_previous_keys_open_during_a_rotation():
    old = Vault(OLD).seal({"access_token": TOKEN})
    vault = Vault(NEW, previous=f"unrelated-key-0000000000, {OLD}")
    assert vault.open(old) == {"access_token": TOKEN}
    assert not vault.is_current(old)
    fresh = vault.seal({"a": 1})
    assert vault.is_current(fresh) and Vault(NEW).open(fresh) == {"a": 1}
    with pytest.raises(DecryptError):
        Vault(OLD).open(fresh)


def test_rotate_key_reseals_and_is_idempotent(db, database_url, tmp_path, monkeypatch, capsys):
    _seed(db, Vault(OLD))
    before = _raw(db)
    _env(monkeypatch, tmp_path, database_url, NEW, previous=OLD)
    assert main(["rotate-key"]) == 0
    out = capsys.readouterr().out
    assert "2 shop(s); 2 value(s) re-encrypted" in out and TOKEN not in out
    after = _raw(db)
    assert after != before
    only_new = Vault(NEW)
    assert only_new.open(after[0]) == {"access_token": TOKEN}
    assert only_new.open(after[1]) == WOO
    with pytest.raises(DecryptError):
        Vault(OLD).open(after[0])

    assert main(["rotate-key"]) == 0  # twice: nothing to do, nothing changes
    assert "0 value(s) re-encrypted with the current key, 2 already current" in capsys.readouterr().out
    assert _raw(db) == after

    _env(monkeypatch, tmp_path, database_url, NEW)  # the previous key dropped: still works
    assert main(["rotate-key"]) == 0
    assert _raw(db) == after


def test_wrong_key_is_reported_not_a_crash(db, database_url, tmp_path, monkeypatch, capsys):
    _seed(db, Vault(OLD))
    before = _raw(db)
    _env(monkeypatch, tmp_path, database_url, NEW)  # forgot COPYDESK_SECRET_KEY_PREVIOUS
    assert main(["rotate-key"]) == 1
    out = capsys.readouterr().out
    assert "2 unreadable" in out and "COPYDESK_SECRET_KEY_PREVIOUS" in out
    assert _raw(db) == before  # left as they were


def test_previous_key_is_a_secret_setting():
    env = {"COPYDESK_SECRET_KEY": NEW, "COPYDESK_SECRET_KEY_PREVIOUS": f"{OLD},another-old-key-123456"}
    settings = Settings.from_env(env)
    assert OLD not in repr(settings) and "another-old-key" not in repr(settings)
    assert Vault.for_settings(settings).open(Vault(OLD).seal({"x": 1})) == {"x": 1}
    with pytest.raises(Exception, match="COPYDESK_SECRET_KEY_PREVIOUS"):
        Settings.from_env({**env, "COPYDESK_SECRET_KEY_PREVIOUS": "short"})
