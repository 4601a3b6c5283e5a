"""`copydesk demo` as a person runs it: real child processes (redis-server, emulator, gunicorn, worker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from plugin.db import make_engine, make_sessionmaker
from plugin.panel.accounts import verify_login
from tests.test_cli import _free_port


def test_demo_runs_every_process_and_shows_drafts(tmp_path, tiny_model):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPYDESK_", "REDIS_URL", "DATABASE_URL"))}
    env.update(COPYDESK_INSTANCE=str(tmp_path / "instance"), COPYDESK_MODEL=str(tiny_model),
               COPYDESK_TORCH_THREADS="1", HF_HUB_OFFLINE="1")
    web, store = _free_port(), _free_port()
    done = subprocess.run(
        [sys.executable, "-m", "plugin.cli", "demo", "--port", str(web), "--store-port", str(store),
         "--until-drafts", "22"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert f"http://127.0.0.1:{store}/" in out
    drafts = re.findall(r"^draft +(\d+) \[(\w+) *\] (\w+)", out, re.M)
    assert len({d[0] for d in drafts}) >= 22
    assert {d[1] for d in drafts} == {"shopify", "woocommerce"}
    # Besides the 20 products' copy: the sample order's follow-up and the sample question's answer.
    assert re.search(r"^draft +\d+ \[woocommerce *\] \w+ +order follow-up · ", out, re.M), out[-3000:]
    assert re.search(r"^draft +\d+ \[woocommerce *\] \w+ +answer · ", out, re.M), out[-3000:]
    assert "Sample question about the Enamel Camping Mug" in out
    assert "demo stopped" in out
    # It printed a staff login for the panel, and that login opens both demo shops.
    login = re.search(r"Review the drafts: (\S+)\n +log in as (\S+) with password (\S+)", out)
    assert login and login.group(1) == f"http://127.0.0.1:{web}/panel/", out[:2000]
    assert login.group(3) == (tmp_path / "instance" / "demo-staff-password").read_text().strip()
    engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'copydesk.db'}")
    with make_sessionmaker(engine)() as db:
        assert len(verify_login(db, login.group(2), login.group(3))) == 2
    engine.dispose()
    # Everything it started has stopped, the embedded Redis included.
    assert not (tmp_path / "instance" / "redis.sock").exists()
