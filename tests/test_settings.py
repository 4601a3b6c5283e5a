"""Settings from the environment: typed, validated, secrets required and never printed."""

from __future__ import annotations

import pytest

from plugin.errors import SettingsError
from plugin.settings import Settings

KEY = "k" * 32


def test_defaults_and_conventional_names():
    s = Settings.from_env({"COPYDESK_SECRET_KEY": KEY, "REDIS_URL": "redis://h:1/0", "DATABASE_URL": "sqlite://",
                           "SHOPIFY_API_SECRET": "shh", "COPYDESK_TORCH_THREADS": "1"})
    assert (s.redis_url, s.database_url, s.shopify_api_secret, s.torch_threads) == (
        "redis://h:1/0", "sqlite://", "shh", 1)
    assert s.model == "smollm2" and s.device == "auto"


def test_sqlite_under_the_instance_folder_by_default(tmp_path):
    s = Settings(secret_key=KEY, instance_path=tmp_path)
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'copydesk.db'}"


def test_unknown_copydesk_key_is_named():
    with pytest.raises(SettingsError, match="COPYDESK_MODLE"):
        Settings.from_env({"COPYDESK_SECRET_KEY": KEY, "COPYDESK_MODLE": "x"})


def test_missing_secret_is_named():
    with pytest.raises(SettingsError, match="COPYDESK_SECRET_KEY"):
        Settings.from_env({})


def test_generate_needs_no_secret():
    assert Settings.from_env({}, need_secrets=False).secret_key


@pytest.mark.parametrize("env,name", [
    ({"COPYDESK_TORCH_THREADS": "two"}, "COPYDESK_TORCH_THREADS"),
    ({"COPYDESK_DEVICE": "tpu"}, "COPYDESK_DEVICE"),
    ({"COPYDESK_HTTP_TIMEOUT": "0"}, "http_timeout"),
])
def test_bad_values_are_named(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"COPYDESK_SECRET_KEY": KEY, **env})


def test_frozen_and_secrets_not_in_repr():
    s = Settings(secret_key=KEY, shopify_api_secret="app-secret-value")
    with pytest.raises(AttributeError):
        s.model = "other"  # type: ignore[misc]
    assert KEY not in repr(s) and "app-secret-value" not in repr(s)
