"""A shop's pages in the staff panel: settings, product history and restore, jobs (failed ones with their
reason, and retry), the catalogue backfill, and the `copydesk staff` command that makes panel logins.
Flask's test client against the real redis-server and database of conftest.py."""

from __future__ import annotations

import html
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry

from plugin import backfill, shops
from plugin.cli import main
from plugin.db import DataExport, Shop
from plugin.jobs import QUEUES, queue
from plugin.panel import accounts
from tests.conftest import SECRET_KEY
from tests.panel_helpers import (  # noqa: F401  (shop, client: fixtures)
    EMAIL_A,
    PASSWORD,
    SHOP_A,
    SHOP_B,
    audit_entries,
    client,
    csrf,
    dbsession,
    draft_ids_listed,
    failed_job,
    get_draft,
    logged_in,
    login,
    make_draft,
    make_shop,
    make_staff,
    no_jobs,
    post_form,
    require_jobs_api,
    shop,
    shop_row,
)

ACTOR = f"staff:{EMAIL_A}"


def _settings(app, shop_id) -> dict:
    return shops.effective_settings(shop_row(app, shop_id))


# -------------------------------------------------------------------------------------------- settings


def _form(**changes) -> dict:
    """The settings form as a browser sends it: unchecked boxes are simply absent."""
    form = {"generate_on_create": "on", "write_fields": ["description_html", "seo_title"], "tone": "warm and witty",
            "target_words": "120", "language": "de", "banned_words": "cheap\nbest ever\n\n",
            "voice_examples": "Made to last.\nSoft from the first wash.", "monthly_cap": "500"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_settings_page_shows_the_current_values(app, shop, client):
    with dbsession(app) as db:
        shops.set_settings(db, db.get(Shop, shop), {"tone": "calm <b>and</b> dry", "target_words": 150,
                                                    "banned_words": ["cheap", "bargain"], "auto_publish": True})
    make_draft(app, shop)
    response = client.get("/panel/settings")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f"Settings for {SHOP_A}" in text
    assert 'name="tone" value="calm &lt;b&gt;and&lt;/b&gt; dry"' in text
    assert 'name="target_words" min="20" max="400" value="150"' in text
    assert 'name="language" value="en"' in text
    assert "cheap\nbargain</textarea>" in text
    assert re.search(r'name="auto_publish" checked', text)
    assert re.search(r'name="generate_on_create" checked', text)
    assert not re.search(r'name="skip_existing" checked', text)
    assert "1 drafts written this month." in text


def test_saving_settings(app, shop, client):
    response = post_form(client, "/panel/settings", **_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    assert parse_qs(urlsplit(response.headers["Location"]).query)["msg"] == ["settings"]
    conf = _settings(app, shop)
    assert conf["tone"] == "warm and witty"
    assert conf["target_words"] == 120
    assert conf["language"] == "de"
    assert conf["generate_on_create"] is True
    assert conf["auto_publish"] is False and conf["skip_existing"] is False
    assert conf["write_fields"] == ["description_html", "seo_title"]
    assert conf["banned_words"] == ["cheap", "best ever"]
    assert conf["voice_examples"] == ["Made to last.", "Soft from the first wash."]
    assert conf["monthly_cap"] == 500
    [entry] = audit_entries(app, action="shop.settings")
    assert entry.actor == ACTOR and entry.shop_id == shop
    assert "Settings saved." in client.get(response.headers["Location"]).get_data(as_text=True)
    # Unticking a box turns the setting off.
    assert post_form(client, "/panel/settings", **_form(generate_on_create=None, auto_publish="on")).status_code == 302
    conf = _settings(app, shop)
    assert conf["generate_on_create"] is False and conf["auto_publish"] is True


@pytest.mark.parametrize("changes,message", [
    ({"target_words": "abc"}, "target_words takes a whole number"),
    ({"target_words": "5"}, "target_words must be between 20 and 400"),
    ({"language": "not a language!!"}, "language takes a short language code"),
    ({"monthly_cap": "-3"}, "monthly_cap cannot be negative"),
    ({"monthly_cap": "lots"}, "monthly_cap takes a whole number"),
    ({"write_fields": []}, "write_fields needs at least one field"),
    ({"tone": "   "}, "tone cannot be empty"),
    ({"banned_words": "\n".join(f"word{i}" for i in range(60))}, "banned_words takes at most 50 items"),
])
def test_bad_settings_are_400_and_nothing_is_saved(app, shop, client, changes, message):
    before = _settings(app, shop)
    response = post_form(client, "/panel/settings", **_form(**changes))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text
    assert 'role="alert"' in text
    assert _settings(app, shop) == before
    assert audit_entries(app, action="shop.settings") == []


def test_a_failed_save_keeps_what_was_typed(app, shop, client):
    response = post_form(client, "/panel/settings", **_form(tone="warm and witty", target_words="abc",
                                                        banned_words="cheap\nbargain"))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert 'name="tone" value="warm and witty"' in text
    assert 'name="target_words" min="20" max="400" value="abc"' in text
    assert "cheap\nbargain</textarea>" in text
    assert _settings(app, shop)["tone"] != "warm and witty"


def test_settings_errors_are_shown_as_text(app, shop, client):
    response = post_form(client, "/panel/settings", **_form(language="<script>alert(1)</script>"))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# ------------------------------------------------------------------------------- history and restore


@pytest.fixture
def product(app, shop):
    """Product 501: a published draft (that replaced the original copy), then a rejected one, then a
    pending one, each with its audit trail."""
    from plugin.drafts import audit

    first = make_draft(app, shop, "501", status="published", title="Linen shirt",
                       previous={"description_html": "<p>The original words</p>", "seo_title": "Original title",
                                 "short_description": "", "seo_description": ""},
                       fields={"description_html": "<p>First draft words</p>", "seo_title": "First draft title",
                               "short_description": "", "seo_description": ""})
    second = make_draft(app, shop, "501", status="rejected", title="Linen shirt")
    third = make_draft(app, shop, "501", title="Linen shirt")
    with dbsession(app) as db:
        audit(db, action="draft.approved", actor="staff:carol@example.com", shop_id=shop, draft_id=first)
        audit(db, action="draft.published", actor="worker", shop_id=shop, draft_id=first)
        audit(db, action="draft.rejected", actor="staff:dan@example.com", shop_id=shop, draft_id=second,
              detail={"reason": "too salesy"})
        db.commit()
    return {"first": first, "second": second, "third": third}


def test_history_lists_versions_and_the_audit_trail(app, shop, client, product):
    response = client.get("/panel/products/501")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "History of Linen shirt" in text
    for draft_id, status in ((product["first"], "published"), (product["second"], "rejected"),
                             (product["third"], "pending")):
        assert f'Draft {draft_id} · <span class="status s-{status}">{status}</span>' in text
    # Newest first.
    assert text.index(f"Draft {product['third']} ") < text.index(f"Draft {product['first']} ")
    assert "approved by staff:carol@example.com" in text
    assert "published by worker" in text
    assert "rejected by staff:dan@example.com — too salesy" in text
    assert "The original words" in text and "Original title" in text  # the copy before Copydesk
    assert "First draft words" in text
    assert 'data-testid="restore-original"' in text
    assert f'href="/panel/drafts/{product["third"]}?status=all"' in text


def test_history_of_an_unknown_product_is_404(app, shop, client, product):
    assert client.get("/panel/products/999").status_code == 404
    assert client.get("/panel/products/" + "5" * 100).status_code == 404
    assert post_form(client, "/panel/products/999/restore", draft_id=str(product["first"]),
                 version="previous").status_code == 404


@pytest.mark.parametrize("version", ["previous", "proposed"])
def test_restore_queues_a_restore_job(app, shop, client, product, redis_conn, version):
    require_jobs_api("enqueue_restore")
    response = post_form(client, "/panel/products/501/restore", draft_id=str(product["first"]), version=version)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/panel/products/501" and parse_qs(location.query)["msg"] == ["restoring"]
    queued = {name: ids for name, ids in ((n, queue(redis_conn, n).job_ids) for n in QUEUES) if ids}
    assert len(queued) == 1
    [(name, [job_id])] = queued.items()
    job = Job.fetch(job_id, connection=redis_conn)
    assert "restore" in job.func_name
    assert shop in job.args and product["first"] in job.args and version in job.args
    assert job.meta.get("shop_id") == shop
    [entry] = audit_entries(app, action="draft.restore_requested")
    assert entry.actor == ACTOR and entry.draft_id == product["first"] and entry.detail == {"version": version}
    assert get_draft(app, product["first"]).status == "published"  # the job does the work, not the page
    assert "Restoring that copy to the store." in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("data,status", [
    ({"version": "everything"}, 400),
    ({"version": ""}, 400),
    ({"version": "previous", "draft_id": ""}, 404),
    ({"version": "previous", "draft_id": "abc"}, 404),
    ({"version": "previous", "draft_id": "²"}, 404),
    ({"version": "previous", "draft_id": "99999999999999999999999"}, 404),
    ({"version": "previous", "draft_id": "424242"}, 404),
])
def test_restore_checks_its_input(app, shop, client, product, redis_conn, data, status):
    data = {"draft_id": str(product["first"]), **data}
    assert post_form(client, "/panel/products/501/restore", **data).status_code == status
    assert no_jobs(redis_conn)
    assert audit_entries(app, action="draft.restore_requested") == []


def test_restore_needs_the_drafts_own_product(app, shop, client, product, redis_conn):
    other = make_draft(app, shop, "502", status="published")
    assert post_form(client, "/panel/products/501/restore", draft_id=str(other), version="previous").status_code == 404
    assert no_jobs(redis_conn)


# ------------------------------------------------------------------------------------------------ jobs


def test_jobs_page_lists_this_shops_failed_job_with_its_reason(app, shop, client, redis_conn):
    other = make_shop(app, SHOP_B)
    mine = failed_job(redis_conn, shop, "boom: the store said no")
    failed_job(redis_conn, other, "boom-for-another-shop")
    response = client.get("/panel/jobs")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "ValueError: boom: the store said no" in text
    assert "boom-for-another-shop" not in text
    assert f'action="/panel/jobs/{mine}/retry"' in text
    assert re.search(r'Failed <span class="count">1</span>', text)
    assert "No backfill has run." in text


def test_jobs_page_lists_queued_jobs_of_this_shop_only(app, shop, client, redis_conn):
    other = make_shop(app, SHOP_B)
    q = queue(redis_conn, "default")
    q.enqueue("tests.panel_helpers.fail_job", "mine", meta={"shop_id": shop})
    q.enqueue("tests.panel_helpers.fail_job", "theirs", meta={"shop_id": other})
    q.enqueue("tests.panel_helpers.fail_job", "nobody's")
    text = client.get("/panel/jobs").get_data(as_text=True)
    assert re.search(r'Queued <span class="count">1</span>', text)
    assert "<td>fail job</td><td>default</td>" in text
    assert "theirs" not in text and "nobody" not in text


def test_retry_puts_a_failed_job_back_on_its_queue(app, shop, client, redis_conn):
    job_id = failed_job(redis_conn, shop, "boom-a")
    registry = FailedJobRegistry(queue=queue(redis_conn, "default"))
    assert job_id in registry.get_job_ids()
    response = post_form(client, f"/panel/jobs/{job_id}/retry")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["msg"] == ["retried"]
    assert queue(redis_conn, "default").job_ids == [job_id]
    assert job_id not in registry.get_job_ids()
    [entry] = audit_entries(app, action="job.retried")
    assert entry.actor == ACTOR and entry.detail == {"job": job_id}
    # It is queued now, not failed: a second retry finds nothing to retry.
    assert post_form(client, f"/panel/jobs/{job_id}/retry").status_code == 404


@pytest.mark.parametrize("job_id", ["no-such-job", "x" * 300, "%2e%2e", "a.b", "a%20b", "%C3%A9"])
def test_retry_of_an_unknown_job_is_404(app, shop, client, job_id):
    assert post_form(client, f"/panel/jobs/{job_id}/retry").status_code == 404
    assert audit_entries(app, action="job.retried") == []


def test_retry_of_a_job_that_did_not_fail_is_404(app, shop, client, redis_conn):
    job = queue(redis_conn, "default").enqueue("tests.panel_helpers.fail_job", "waiting", meta={"shop_id": shop})
    assert post_form(client, f"/panel/jobs/{job.id}/retry").status_code == 404
    assert queue(redis_conn, "default").job_ids == [job.id]


def test_retry_of_a_job_of_no_shop_is_404(app, shop, client, redis_conn):
    q = queue(redis_conn, "default")
    job = q.enqueue("tests.panel_helpers.fail_job", "anonymous")
    SimpleWorker([q], connection=redis_conn).work(burst=True, with_scheduler=False, logging_level="WARNING")
    assert job.id in FailedJobRegistry(queue=q).get_job_ids()
    assert post_form(client, f"/panel/jobs/{job.id}/retry").status_code == 404
    assert job.id in FailedJobRegistry(queue=q).get_job_ids()


# -------------------------------------------------------------------------------------------- backfill


def test_backfill_start_creates_a_run_and_a_second_start_is_409(app, shop, client, redis_conn):
    response = post_form(client, "/panel/backfill", action="start")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["msg"] == ["backfill"]
    state = backfill.status(redis_conn, shop)
    assert state["state"] == "running" and state["all"] is False
    assert len(queue(redis_conn, "default").job_ids) == 1  # the first page's job
    again = post_form(client, "/panel/backfill", action="start", all="on")
    assert again.status_code == 409
    assert "already running" in again.get_data(as_text=True)
    assert backfill.status(redis_conn, shop)["run_id"] == state["run_id"]
    assert len(queue(redis_conn, "default").job_ids) == 1
    assert [e.action for e in audit_entries(app) if e.action.startswith("backfill.")] == ["backfill.start"]
    page = client.get("/panel/jobs").get_data(as_text=True)
    assert "running: 0 pages" in page and 'value="pause"' in page
    info = client.get("/panel/backfill.json").get_json()
    assert info["state"] == "running" and info["run_id"] == state["run_id"]
    assert info["drafts_written"] == 0 and info["line"].startswith(f"run {state['run_id']} running")


def test_backfill_pause_resume_cancel(app, shop, client, redis_conn):
    assert post_form(client, "/panel/backfill", action="pause").status_code == 409  # nothing to pause
    assert post_form(client, "/panel/backfill", action="start", all="on").status_code == 302
    assert backfill.status(redis_conn, shop)["all"] is True
    assert post_form(client, "/panel/backfill", action="pause").status_code == 302
    assert backfill.status(redis_conn, shop)["state"] == "paused"
    assert post_form(client, "/panel/backfill", action="start").status_code == 409  # paused counts as active
    assert post_form(client, "/panel/backfill", action="resume").status_code == 302
    assert backfill.status(redis_conn, shop)["state"] == "running"
    assert post_form(client, "/panel/backfill", action="cancel").status_code == 302
    assert backfill.status(redis_conn, shop)["state"] == "cancelled"
    assert post_form(client, "/panel/backfill", action="explode").status_code == 400


def test_backfill_is_per_shop(app, shop, client, redis_conn):
    other = make_shop(app, SHOP_B)
    backfill.start(redis_conn, other)
    assert client.get("/panel/backfill.json").get_json() == {"state": None}
    assert post_form(client, "/panel/backfill", action="cancel").status_code == 409
    assert backfill.status(redis_conn, other)["state"] == "running"
    assert post_form(client, "/panel/backfill", action="start").status_code == 302
    assert backfill.status(redis_conn, shop)["state"] == "running"


# ----------------------------------------------------------------------------------- copydesk staff


@pytest.fixture
def cli_env(app, settings, tmp_path, monkeypatch, redis_server):
    """The CLI's environment, pointed at the same database as `app`."""
    values = {"COPYDESK_SECRET_KEY": SECRET_KEY, "COPYDESK_INSTANCE": str(tmp_path / "cli-instance"),
              "DATABASE_URL": settings.database_url, "REDIS_URL": redis_server.url}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_staff_add_makes_up_a_password_shown_once_that_logs_in(app, shop, cli_env, capsys):
    assert main(["staff", "add", "--shop", SHOP_A, "--email", "New.Person@Example.com"]) == 0
    out = capsys.readouterr().out
    assert f"new.person@example.com can log in to {SHOP_A} at http://127.0.0.1:8000/panel/" in out
    [password] = re.findall(r"password: (\S+)", out)
    assert len(password) >= accounts.MIN_PASSWORD
    assert out.count(password) == 1
    client = app.test_client()
    assert login(client, "new.person@example.com", password).status_code == 302
    assert client.get("/panel/").status_code == 200
    # Adding again sets a new password: the old one stops working.
    assert main(["staff", "add", "--shop", SHOP_A, "--email", "new.person@example.com"]) == 0
    [second] = re.findall(r"password: (\S+)", capsys.readouterr().out)
    assert second != password
    assert login(app.test_client(), "new.person@example.com", password).status_code == 401
    assert login(app.test_client(), "new.person@example.com", second).status_code == 302


def test_staff_add_with_a_password_on_stdin(app, shop, cli_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["staff", "add", "--shop", SHOP_A, "--email", "erin@example.com", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "erin@example.com can log in" in out and "password" not in out.replace("--password-stdin", "")
    assert login(app.test_client(), "erin@example.com", "a long enough password").status_code == 302


@pytest.mark.parametrize("password", ["short\n", "\n", ""])
def test_staff_add_refuses_a_short_password(app, shop, cli_env, capsys, monkeypatch, password):
    monkeypatch.setattr("sys.stdin", io.StringIO(password))
    assert main(["staff", "add", "--shop", SHOP_A, "--email", "erin@example.com", "--password-stdin"]) == 2
    assert f"at least {accounts.MIN_PASSWORD} characters" in capsys.readouterr().err
    with dbsession(app) as db:
        assert [s.email for s in accounts.list_staff(db, db.get(Shop, shop))] == [EMAIL_A]


@pytest.mark.parametrize("argv,message", [
    (["staff", "add", "--shop", "nowhere.myshopify.com", "--email", "a@b.c"], "no shop"),
    (["staff", "add", "--shop", SHOP_A, "--email", "not an email"], "not an email address"),
    (["staff", "list", "--shop", "nowhere.myshopify.com"], "no shop"),
])
def test_staff_command_errors(app, shop, cli_env, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_staff_list_and_remove(app, shop, cli_env, capsys):
    session = logged_in(app)  # EMAIL_A, added by the fixture, logs in
    make_staff(app, shop, "zed@example.com")
    assert main(["staff", "list", "--shop", SHOP_A]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [EMAIL_A, "zed@example.com"]
    assert "last login never" not in lines[0] and lines[1].endswith("last login never")
    assert main(["staff", "remove", "--shop", SHOP_A, "--email", EMAIL_A.upper()]) == 0
    assert f"removed {EMAIL_A.upper()} from {SHOP_A}" in capsys.readouterr().out
    # The removed login's open session stops working at once, and it cannot log in again.
    assert session.get("/panel/").status_code == 302
    assert login(app.test_client(), EMAIL_A, PASSWORD).status_code == 401
    assert main(["staff", "remove", "--shop", SHOP_A, "--email", EMAIL_A]) == 1
    assert "no login" in capsys.readouterr().err
    assert main(["staff", "list", "--shop", SHOP_A]) == 0
    assert capsys.readouterr().out.startswith("zed@example.com\t")
    assert [e.action for e in audit_entries(app) if e.action.startswith("staff.")].count("staff.removed") == 1


def test_a_staff_login_sees_only_its_shop(app, shop, cli_env, capsys):
    other = make_shop(app, SHOP_B)
    theirs = make_draft(app, other, "9")
    mine = make_draft(app, shop, "9")
    assert main(["staff", "add", "--shop", SHOP_B, "--email", "bea@example.com"]) == 0
    [password] = re.findall(r"password: (\S+)", capsys.readouterr().out)
    client = app.test_client()
    assert login(client, "bea@example.com", password).status_code == 302
    assert draft_ids_listed(client.get("/panel/").get_data(as_text=True)) == {theirs}
    assert client.get(f"/panel/drafts/{mine}").status_code == 404


def test_settings_page_lists_this_shops_data_requests_only(app, shop, client):
    other = make_shop(app, "other-shop.myshopify.com")
    with dbsession(app) as db:
        mine = DataExport(shop_id=shop, request_id="req-mine", customer_id="77", payload={"orders": []})
        theirs = DataExport(shop_id=other, request_id="req-theirs", customer_id="88", payload={"orders": []})
        db.add_all([mine, theirs])
        db.commit()
        mine_id, theirs_id = mine.id, theirs.id
    text = client.get("/panel/settings").get_data(as_text=True)
    assert f'href="/panel/exports/{mine_id}"' in text and "req-mine" in text
    assert "req-theirs" not in text and f"/panel/exports/{theirs_id}" not in text
    download = client.get(f"/panel/exports/{mine_id}")
    assert download.status_code == 200 and download.json == {"orders": []}
    assert client.get(f"/panel/exports/{theirs_id}").status_code == 404


def test_settings_page_gives_the_questions_widget_snippet(app, shop, client):
    # Shopify: the theme snippet through the app proxy; no key is needed (Shopify signs proxy requests).
    text = client.get("/panel/settings").get_data(as_text=True)
    assert "/apps/copydesk/widget.js" in text and 'data-testid="widget-key"' not in text
    # WooCommerce: the shop's publishable key, made once and the same on every visit, in the script tag.
    woo = make_shop(app, "https://woo-widget.example", platform="woocommerce")
    make_staff(app, woo, "woo-staff@example.com")
    woo_client = logged_in(app, "woo-staff@example.com")
    first = woo_client.get("/panel/settings").get_data(as_text=True)
    key = re.search(r'data-testid="widget-key">([^<]+)<', first).group(1)
    assert key.startswith(f"{woo}-") and len(key) > 20
    shown = html.unescape(first)  # the tag is shown as text, escaped
    assert f'data-key="{key}"' in shown and "/questions/widget.js" in shown and "&lt;script src=" in first
    assert f'data-testid="widget-key">{key}<' in woo_client.get("/panel/settings").get_data(as_text=True)
