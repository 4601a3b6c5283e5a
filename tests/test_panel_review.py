"""Reviewing drafts in the staff panel: the queue (filters, search, pages, counts), a draft's page, edits,
approve / reject / regenerate, bulk actions and their progress, bad input, and XSS in product data and
model output. Flask's test client against the real redis-server and database of conftest.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from plugin.jobs import queue
from plugin.panel import render
from plugin.panel.queries import PAGE_SIZE
from tests.panel_helpers import (  # noqa: F401  (shop, client: fixtures)
    EMAIL_A,
    SHOP_A,
    XSS_DESCRIPTION,
    XSS_TITLE,
    assert_no_live_xss,
    audit_entries,
    client,
    csrf,
    draft_ids_listed,
    get_draft,
    logged_in,
    make_draft,
    make_shop,
    make_staff,
    no_jobs,
    post_form,
    require_jobs_api,
    shop,
    tab_counts,
)

ACTOR = f"staff:{EMAIL_A}"


def _listed(client, **query) -> set[int]:
    response = client.get("/panel/", query_string=query)
    assert response.status_code == 200
    return draft_ids_listed(response.get_data(as_text=True))


# ------------------------------------------------------------------------------------------------ queue


def test_queue_filters_by_status_and_kind(app, shop, client):
    pending = make_draft(app, shop, "1", title="Pending shirt")
    failed = make_draft(app, shop, "2", status="failed", title="Failed shirt")
    published = make_draft(app, shop, "3", status="published", title="Published shirt")
    follow_up = make_draft(app, shop, "4", kind="order_follow_up", title="Order note")
    assert _listed(client) == {pending, follow_up}  # pending is the default
    assert _listed(client, status="failed") == {failed}
    assert _listed(client, status="published") == {published}
    assert _listed(client, status="all") == {pending, failed, published, follow_up}
    assert _listed(client, status="all", kind="order_follow_up") == {follow_up}
    assert _listed(client, kind="product_copy") == {pending}
    # An unknown status or kind falls back to the defaults rather than erroring.
    assert _listed(client, status="bogus") == {pending, follow_up}
    assert _listed(client, status="all", kind="bogus") == {pending, failed, published, follow_up}


def test_queue_counts_per_status(app, shop, client):
    for status, n in (("pending", 3), ("approved", 1), ("published", 2), ("rejected", 1), ("failed", 1)):
        for i in range(n):
            make_draft(app, shop, f"{status}-{i}", status=status)
    other = make_shop(app, "other-shop.myshopify.com")
    make_draft(app, other, "x")  # another shop's draft is not counted
    counts = tab_counts(client.get("/panel/").get_data(as_text=True))
    assert counts == {"pending": 3, "approved": 1, "published": 2, "rejected": 1, "stale": 0, "failed": 1}


def test_queue_search_matches_titles_and_copy_and_product_ids(app, shop, client):
    by_title = make_draft(app, shop, "11", title="Café linen apron")
    by_copy = make_draft(app, shop, "12", title="Plain mug",
                         fields={"description_html": "<p>Glazed in Lisbon</p>", "seo_title": "Mug"})
    by_id = make_draft(app, shop, "987654", title="Bowl")
    make_draft(app, shop, "13", title="Wool scarf")
    assert _listed(client, q="linen apron") == {by_title}
    assert _listed(client, q="LINEN") == {by_title}  # case-insensitive
    assert _listed(client, q="café") == {by_title}  # stored unescaped, so found
    assert _listed(client, q="lisbon") == {by_copy}
    assert _listed(client, q="987654") == {by_id}
    assert _listed(client, q="nothing like it") == set()
    page = client.get("/panel/", query_string={"q": "lisbon"}).get_data(as_text=True)
    assert 'value="lisbon"' in page  # the search box keeps what was typed


def test_search_wildcards_are_literal(app, shop, client):
    percent = make_draft(app, shop, "21", title="50% off socks")
    make_draft(app, shop, "22", title="500 socks")
    underscore = make_draft(app, shop, "23", title="size_xl tee")
    make_draft(app, shop, "24", title="sizeAxl tee")
    backslash = make_draft(app, shop, "25", title="back\\slash")
    assert _listed(client, q="50%") == {percent}
    assert _listed(client, q="%") == {percent}
    assert _listed(client, q="size_xl") == {underscore}
    assert _listed(client, q="_") == {underscore}
    assert _listed(client, q="\\") == {backslash}
    quoted = make_draft(app, shop, "26", title='The "Classic" tee')
    assert _listed(client, q='"classic"') == {quoted}  # the text, not its JSON spelling


def test_search_does_not_match_the_names_of_fields(app, shop, client):
    """Every draft's fields are called description_html, seo_title...: searching those words finds only
    drafts whose text has them."""
    titled = make_draft(app, shop, "31", title="Title deed frame")
    make_draft(app, shop, "32", title="Vase")
    for q in ("title", "seo", "description", "html", "short", "input", ":", "{"):
        assert _listed(client, q=q) <= {titled}, q
    assert _listed(client, q="title") == {titled}


def test_queue_pages_of_25(app, shop, client):
    ids = [make_draft(app, shop, str(100 + i), title=f"Product {i}") for i in range(30)]
    first = client.get("/panel/")
    text = first.get_data(as_text=True)
    assert PAGE_SIZE == 25
    assert draft_ids_listed(text) == set(ids[-25:])  # newest first
    assert "page 1 of 2" in text and 'data-testid="total">30<' in text
    assert 'href="/panel/?page=2&amp;status=pending" rel="next"' in text
    second = client.get("/panel/?page=2").get_data(as_text=True)
    assert draft_ids_listed(second) == set(ids[:5])
    assert "page 2 of 2" in second and 'rel="prev"' in second and 'rel="next"' not in second
    assert draft_ids_listed(client.get("/panel/?page=3").get_data(as_text=True)) == set()


@pytest.mark.parametrize("page,status", [("abc", 400), ("", 400), ("1.5", 400), ("0", 200), ("-4", 200),
                                         ("99999999999999999999999999", 200)])
def test_queue_page_numbers_are_checked(app, shop, client, page, status):
    make_draft(app, shop)
    assert client.get("/panel/", query_string={"page": page}).status_code == status


def test_queue_is_one_shops_only(app, shop, client):
    mine = make_draft(app, shop, "1", title="Mine")
    other = make_shop(app, "other-shop.myshopify.com")
    make_draft(app, other, "1", title="Theirs")
    assert _listed(client, status="all") == {mine}
    assert "Theirs" not in client.get("/panel/?status=all").get_data(as_text=True)


# ------------------------------------------------------------------------------------------ draft page


def test_draft_page_shows_store_copy_beside_the_proposal_and_a_diff(app, shop, client):
    draft_id = make_draft(
        app, shop, "31", title="Linen shirt",
        previous={"description_html": "<p>An old shirt.</p>", "seo_title": "Old linen shirt",
                  "short_description": "", "seo_description": ""},
        fields={"description_html": "<p>A <strong>soft</strong> shirt.</p>", "seo_title": "Soft linen shirt",
                "short_description": "Soft.", "seo_description": "Buy it."},
        checks={"flags": ["mentions a claim"], "claims": [{"text": "organic", "supported": False}]})
    response = client.get(f"/panel/drafts/{draft_id}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "In the store now" in text and "Proposed" in text
    assert "<p>An old shirt.</p>" in text  # the store's description, rendered (sanitised)
    assert "<p>A <strong>soft</strong> shirt.</p>" in text  # the proposal, rendered
    assert "<del>Old</del><ins>Soft</ins> linen shirt" in text  # the SEO title's word diff
    assert "<del>old</del><ins>soft</ins>" in text  # the description's diff, on its text
    assert "Old linen shirt" in text and "Soft linen shirt" in text
    assert "mentions a claim" in text and "organic" in text
    assert 'data-testid="status">pending<' in text
    assert 'href="/panel/products/31"' in text
    assert 'value="approve"' in text and 'name="seo_title"' in text


def test_draft_page_links_to_its_neighbours_in_the_queue(app, shop, client):
    older = make_draft(app, shop, "1")
    middle = make_draft(app, shop, "2")
    newer = make_draft(app, shop, "3")
    text = client.get(f"/panel/drafts/{middle}").get_data(as_text=True)
    assert f'href="/panel/drafts/{newer}?status=pending"' in text and 'rel="prev"' in text
    assert f'href="/panel/drafts/{older}?status=pending"' in text and 'rel="next"' in text


def test_missing_draft_is_404(app, shop, client):
    assert client.get("/panel/drafts/424242").status_code == 404
    assert client.get("/panel/drafts/0").status_code == 404
    assert client.get("/panel/drafts/99999999999999999999999").status_code == 404
    assert client.get("/panel/drafts/abc").status_code == 404
    assert post_form(client, "/panel/drafts/424242", action="approve").status_code == 404
    assert post_form(client, "/panel/drafts/99999999999999999999999", action="approve").status_code == 404


# --------------------------------------------------------------------------------------------- editing


def test_saving_edits_records_what_changed_and_who(app, shop, client):
    draft_id = make_draft(app, shop, "41", title="Linen shirt")
    before = get_draft(app, draft_id).fields
    response = post_form(client, f"/panel/drafts/{draft_id}", action="save", seo_title="  Linen shirt, softer  ",
                     seo_description=before["seo_description"], short_description="Softer.\r\nAnd cooler.")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/panel/drafts/{draft_id}" and parse_qs(location.query)["msg"] == ["saved"]
    draft = get_draft(app, draft_id)
    assert draft.status == "pending"
    assert draft.fields["seo_title"] == "Linen shirt, softer"
    assert draft.fields["short_description"] == "Softer.\nAnd cooler."
    assert draft.fields["description_html"] == before["description_html"]  # not submitted: kept
    [entry] = audit_entries(app, action="draft.edited")
    assert entry.draft_id == draft_id and entry.actor == ACTOR
    assert entry.detail == {"fields": ["short_description", "seo_title"]}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Draft {draft_id} saved." in page


def test_saving_nothing_new_writes_no_audit_entry(app, shop, client):
    draft_id = make_draft(app, shop)
    fields = get_draft(app, draft_id).fields
    assert post_form(client, f"/panel/drafts/{draft_id}", action="save", **fields).status_code == 302
    assert audit_entries(app, action="draft.edited") == []


def test_an_edit_is_stored_sanitised(app, shop, client):
    draft_id = make_draft(app, shop)
    dirty = "<p onclick=x>Hi<script>bad()</script></p>"
    assert post_form(client, f"/panel/drafts/{draft_id}", action="save", description_html=dirty).status_code == 302
    stored = get_draft(app, draft_id).fields["description_html"]
    assert stored == render.clean_html(dirty) == "<p>Hi</p>"
    text = client.get(f"/panel/drafts/{draft_id}").get_data(as_text=True)
    assert_no_live_xss(text)


def test_an_edit_keeps_the_carried_over_videos_and_drops_other_frames(app, shop, client):
    video = '<video controls src="https://cdn.example/towel.mp4"></video>'
    embed = '<iframe src="https://www.youtube-nocookie.com/embed/abc" allowfullscreen></iframe>'
    draft_id = make_draft(app, shop, fields={"description_html": f"<p>Soft.</p>{video}{embed}"})
    edited = (f'<p>Soft linen.</p>{video}{embed}<iframe src="https://evil.example/x"></iframe>'
              '<video src="javascript:alert(1)"></video>')
    assert post_form(client, f"/panel/drafts/{draft_id}", action="save", description_html=edited).status_code == 302
    stored = get_draft(app, draft_id).fields["description_html"]
    # nothing carried over is lost by an edit (nh3 writes the boolean attribute as controls="")
    assert stored.startswith('<p>Soft linen.</p><video controls="" src="https://cdn.example/towel.mp4"></video>')
    assert 'src="https://www.youtube-nocookie.com/embed/abc"' in stored
    assert "evil.example" not in stored and "javascript:" not in stored
    assert_no_live_xss(client.get(f"/panel/drafts/{draft_id}").get_data(as_text=True))


@pytest.mark.parametrize("field,limit,label", [("seo_title", 70, "SEO title"),
                                               ("seo_description", 160, "SEO description")])
def test_an_over_long_seo_field_is_400_and_nothing_is_saved(app, shop, client, field, limit, label):
    draft_id = make_draft(app, shop)
    before = get_draft(app, draft_id).fields
    too_long = "x" * (limit + 1)
    response = post_form(client, f"/panel/drafts/{draft_id}", action="save",
                         **{"seo_title": "New title", field: too_long})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"{label} is {limit + 1} characters; at most {limit}" in text
    assert too_long in text  # what was typed is kept in the form, to be shortened
    assert get_draft(app, draft_id).fields == before
    assert audit_entries(app, action="draft.edited") == []
    # Approving with the same edit is refused the same way.
    response = post_form(client, f"/panel/drafts/{draft_id}", action="approve", **{field: too_long})
    assert response.status_code == 400
    assert get_draft(app, draft_id).status == "pending"
    assert no_jobs(app.extensions["copydesk_redis"])


def test_exactly_70_characters_is_fine(app, shop, client):
    draft_id = make_draft(app, shop)
    assert post_form(client, f"/panel/drafts/{draft_id}", action="save", seo_title="y" * 70).status_code == 302
    assert get_draft(app, draft_id).fields["seo_title"] == "y" * 70


@pytest.mark.parametrize("status", ["approved", "published", "rejected"])
def test_a_reviewed_draft_cannot_be_edited(app, shop, client, status):
    draft_id = make_draft(app, shop, status=status)
    before = get_draft(app, draft_id).fields
    response = post_form(client, f"/panel/drafts/{draft_id}", action="save", seo_title="Late edit")
    assert response.status_code == 409
    assert f"This draft is {status}" in response.get_data(as_text=True)
    assert get_draft(app, draft_id).fields == before


def test_an_unknown_action_is_400(app, shop, client):
    draft_id = make_draft(app, shop)
    assert post_form(client, f"/panel/drafts/{draft_id}", action="delete").status_code == 400
    assert post_form(client, f"/panel/drafts/{draft_id}").status_code == 400
    assert get_draft(app, draft_id).status == "pending"


# ------------------------------------------------------------------------------------ approve / reject


def test_approve_queues_a_publish_job_and_goes_to_the_next_pending_draft(app, shop, client, redis_conn):
    require_jobs_api("enqueue_publish", "shop_id")
    older = make_draft(app, shop, "1")
    make_draft(app, shop, "2", status="published")
    current = make_draft(app, shop, "3")
    response = post_form(client, f"/panel/drafts/{current}", action="approve", seo_title="Edited on approve")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/panel/drafts/{older}"
    assert parse_qs(location.query)["msg"] == ["approved"] and parse_qs(location.query)["ref"] == [str(current)]
    draft = get_draft(app, current)
    assert draft.status == "approved"
    assert draft.fields["seo_title"] == "Edited on approve"  # the edit went in with the approval
    publish = queue(redis_conn, "publish")
    assert publish.job_ids == [f"publish-{current}"]
    job = publish.fetch_job(f"publish-{current}")
    assert job.func_name == "worker.tasks.publish_draft" and job.args[0] == current
    assert job.kwargs.get("actor") == ACTOR
    assert [e.actor for e in audit_entries(app, action="draft.approved")] == [ACTOR]
    assert f"Draft {current} approved" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_approving_the_last_pending_draft_goes_back_to_the_queue(app, shop, client):
    require_jobs_api("enqueue_publish", "shop_id")
    only = make_draft(app, shop)
    response = post_form(client, f"/panel/drafts/{only}", action="approve")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/panel/"


def test_approving_an_approved_draft_queues_its_publish_again(app, shop, client, redis_conn):
    require_jobs_api("enqueue_publish", "shop_id")
    draft_id = make_draft(app, shop, status="approved")
    assert post_form(client, f"/panel/drafts/{draft_id}", action="approve").status_code == 302
    assert queue(redis_conn, "publish").job_ids == [f"publish-{draft_id}"]
    assert get_draft(app, draft_id).status == "approved"


@pytest.mark.parametrize("status", ["published", "rejected"])
def test_approving_a_finished_draft_is_409(app, shop, client, redis_conn, status):
    draft_id = make_draft(app, shop, status=status)
    response = post_form(client, f"/panel/drafts/{draft_id}", action="approve")
    assert response.status_code == 409
    assert get_draft(app, draft_id).status == status
    assert no_jobs(redis_conn)


def test_approving_a_stale_draft_is_409_and_keeps_nothing(app, shop, client, redis_conn):
    draft_id = make_draft(app, shop, status="stale")
    before = get_draft(app, draft_id).fields
    response = post_form(client, f"/panel/drafts/{draft_id}", action="approve", seo_title="Edited")
    assert response.status_code == 409
    assert "changed in the store" in response.get_data(as_text=True)
    draft = get_draft(app, draft_id)
    assert draft.status == "stale" and draft.fields == before
    assert audit_entries(app, action="draft.edited") == []
    assert no_jobs(redis_conn)


def test_reject_needs_a_reason(app, shop, client):
    draft_id = make_draft(app, shop)
    for reason in ("", "   "):
        response = post_form(client, f"/panel/drafts/{draft_id}", action="reject", reason=reason)
        assert response.status_code == 400
        assert "Say why the draft is rejected" in response.get_data(as_text=True)
    assert get_draft(app, draft_id).status == "pending"


def test_reject_with_a_reason(app, shop, client):
    older = make_draft(app, shop, "1")
    draft_id = make_draft(app, shop, "2")
    response = post_form(client, f"/panel/drafts/{draft_id}", action="reject", reason="  Mentions a discount  ")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == f"/panel/drafts/{older}"
    draft = get_draft(app, draft_id)
    assert draft.status == "rejected" and draft.reason == "Mentions a discount"
    [entry] = audit_entries(app, action="draft.rejected")
    assert entry.actor == ACTOR and entry.detail["reason"] == "Mentions a discount"
    again = post_form(client, f"/panel/drafts/{draft_id}", action="reject", reason="twice")
    assert again.status_code == 409


def test_regenerate_queues_a_generate_job_with_the_note(app, shop, client, redis_conn):
    draft_id = make_draft(app, shop, "51")
    require_jobs_api("enqueue_generate", "note", "seed")
    response = post_form(client, f"/panel/drafts/{draft_id}", action="regenerate", note="  shorter, no emoji  ")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["msg"] == ["regenerating"]
    generate = queue(redis_conn, "generate")
    [job_id] = generate.job_ids
    job = generate.fetch_job(job_id)
    assert job.func_name == "worker.tasks.generate_copy"
    assert list(job.args[:2]) == [shop, "51"]
    assert job.kwargs["note"] == "shorter, no emoji"
    assert isinstance(job.kwargs["seed"], int)
    assert job.kwargs["trigger"] == "staff.regenerate"
    [entry] = audit_entries(app, action="draft.regenerate")
    assert entry.actor == ACTOR and entry.detail == {"note": "shorter, no emoji"}
    # A second press is a second job (a fresh seed), not a duplicate dropped.
    assert post_form(client, f"/panel/drafts/{draft_id}", action="regenerate").status_code == 302
    assert len(generate.job_ids) == 2
    assert get_draft(app, draft_id).status == "pending"


# ---------------------------------------------------------------------------------------------- bulk


def _run_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    path = urlsplit(response.headers["Location"]).path
    assert path.startswith("/panel/bulk/")
    return path.rsplit("/", 1)[-1]


def test_bulk_approve_of_selected_drafts(app, shop, client, redis_conn):
    require_jobs_api("enqueue_publish", "shop_id")
    pending = make_draft(app, shop, "1")
    failed = make_draft(app, shop, "2", status="failed")
    published = make_draft(app, shop, "3", status="published")
    rejected = make_draft(app, shop, "4", status="rejected")
    untouched = make_draft(app, shop, "5")
    run = _run_of(post_form(client, "/panel/bulk", action="approve",
                        ids=[str(pending), str(failed), str(published), str(rejected), "x", "-1"]))
    assert get_draft(app, pending).status == "approved"
    assert get_draft(app, failed).status == "approved"
    assert get_draft(app, published).status == "published"
    assert get_draft(app, rejected).status == "rejected"
    assert get_draft(app, untouched).status == "pending"
    assert sorted(queue(redis_conn, "publish").job_ids) == sorted([f"publish-{pending}", f"publish-{failed}"])
    progress = client.get(f"/panel/bulk/{run}.json")
    assert progress.status_code == 200
    assert progress.get_json() == {"action": "approve", "total": 2, "skipped": 2, "flagged": 0,
                                   "counts": {"approved": 2}, "finished": 0, "done": False}
    page = client.get(f"/panel/bulk/{run}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Bulk approve" in text and "2 skipped" in text and "Working" in text
    entries = audit_entries(app, action="draft.approved")
    assert len(entries) == 2 and all(e.actor == ACTOR and e.detail["bulk"] for e in entries)


def test_bulk_approve_of_all_matching_the_filter(app, shop, client, redis_conn):
    require_jobs_api("enqueue_publish", "shop_id")
    linen = [make_draft(app, shop, str(i), title=f"Linen thing {i}") for i in range(3)]
    linen_failed = make_draft(app, shop, "10", status="failed", title="Linen failed")
    linen_published = make_draft(app, shop, "11", status="published", title="Linen published")
    wool = make_draft(app, shop, "12", title="Wool thing")
    run = _run_of(post_form(client, "/panel/bulk", action="approve", all="1", status="all", q="linen"))
    assert [get_draft(app, d).status for d in linen] == ["approved"] * 3
    assert get_draft(app, linen_failed).status == "approved"
    assert get_draft(app, linen_published).status == "published"
    assert get_draft(app, wool).status == "pending"
    assert len(queue(redis_conn, "publish").job_ids) == 4
    progress = client.get(f"/panel/bulk/{run}.json").get_json()
    assert progress["total"] == 4 and progress["skipped"] == 1


def test_bulk_all_uses_the_pending_filter_by_default(app, shop, client):
    pending = make_draft(app, shop, "1")
    failed = make_draft(app, shop, "2", status="failed")
    run = _run_of(post_form(client, "/panel/bulk", action="reject", all="1", reason="clearing the queue"))
    assert get_draft(app, pending).status == "rejected"
    assert get_draft(app, failed).status == "failed"
    progress = client.get(f"/panel/bulk/{run}.json").get_json()
    assert progress == {"action": "reject", "total": 1, "skipped": 0, "flagged": 0, "counts": {"rejected": 1},
                        "finished": 1, "done": True}
    assert "Finished." in client.get(f"/panel/bulk/{run}").get_data(as_text=True)


def test_bulk_reject_needs_a_reason(app, shop, client, redis_conn):
    draft_id = make_draft(app, shop)
    for reason in ("", "  "):
        response = post_form(client, "/panel/bulk", action="reject", ids=str(draft_id), reason=reason)
        assert response.status_code == 400
    assert get_draft(app, draft_id).status == "pending"
    run = _run_of(post_form(client, "/panel/bulk", action="reject", ids=str(draft_id), reason="Off brand"))
    draft = get_draft(app, draft_id)
    assert draft.status == "rejected" and draft.reason == "Off brand"
    assert client.get(f"/panel/bulk/{run}.json").get_json()["done"] is True
    assert no_jobs(redis_conn)


def test_bulk_with_nothing_selected_changes_nothing(app, shop, client, redis_conn):
    draft_id = make_draft(app, shop)
    response = post_form(client, "/panel/bulk", action="approve")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/panel/" and parse_qs(location.query)["msg"] == ["nothing"]
    assert get_draft(app, draft_id).status == "pending"
    assert no_jobs(redis_conn)


@pytest.mark.parametrize("action", ["", "delete", "publish"])
def test_bulk_needs_a_known_action(app, shop, client, action):
    draft_id = make_draft(app, shop)
    assert post_form(client, "/panel/bulk", action=action, ids=str(draft_id), reason="r").status_code == 400
    assert get_draft(app, draft_id).status == "pending"


@pytest.mark.parametrize("ids", [["²"], ["99999999999999999999999"], ["0"], ["１２"], ["1e3"]])
def test_bulk_ignores_ids_that_are_not_draft_ids(app, shop, client, ids):
    draft_id = make_draft(app, shop)
    response = post_form(client, "/panel/bulk", action="reject", reason="r", ids=ids)
    assert response.status_code == 302
    assert get_draft(app, draft_id).status == "pending"


@pytest.mark.parametrize("run", ["nosuchrun", "a" * 40, "../x", "%C2%B2"])
def test_unknown_bulk_runs_are_404(app, shop, client, run):
    assert client.get(f"/panel/bulk/{run}").status_code == 404
    assert client.get(f"/panel/bulk/{run}.json").status_code == 404


# ------------------------------------------------------------------------------------------------- XSS


@pytest.fixture
def hostile(app, shop):
    """A product whose title and store copy, and a model answer, are all attacks."""
    return make_draft(
        app, shop, "666", title=XSS_TITLE,
        snapshot={"title": XSS_TITLE, "vendor": "<svg onload=alert(7)>"},
        previous={"description_html": '<p>Old</p><script>alert("old")</script><img src=x onerror=alert(8)>',
                  "seo_title": "<script>alert(9)</script>", "short_description": "", "seo_description": ""},
        fields={"description_html": XSS_DESCRIPTION,
                "short_description": '<a href="javascript:alert(10)">short</a>',
                "seo_title": "<script>alert(11)</script>",
                "seo_description": '"><iframe src=javascript:alert(12)>'},
        checks={"flags": ["<script>alert(13)</script>"],
                "claims": [{"text": "<img src=x onerror=alert(14)>", "supported": False}]})


ESCAPED_TITLE = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


def test_queue_page_shows_hostile_text_as_text(app, shop, client, hostile):
    text = client.get("/panel/").get_data(as_text=True)
    assert hostile in draft_ids_listed(text)
    assert_no_live_xss(text)
    assert ESCAPED_TITLE in text
    assert "&lt;script&gt;alert(11)&lt;/script&gt;" in text  # the proposed SEO title, as text
    search = client.get("/panel/", query_string={"q": '"><script>alert(15)</script>'}).get_data(as_text=True)
    assert_no_live_xss(search)
    assert "&#34;&gt;&lt;script&gt;alert(15)" in search


def test_draft_page_shows_hostile_text_as_text(app, shop, client, hostile):
    response = client.get(f"/panel/drafts/{hostile}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert_no_live_xss(text)
    assert ESCAPED_TITLE in text
    assert "<p>Soft <b>linen</b></p>" in text  # the harmless part of the description is rendered
    assert "&lt;script&gt;alert(11)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(13)&lt;/script&gt;" in text  # a check's flag
    # The rendered previews have no live script, handler, javascript: link, frame or style at all.
    preview = str(render.preview(XSS_DESCRIPTION))
    for raw in ("<script", "onerror", "onclick", "javascript:", "<iframe", "<style", "alert(3)"):
        assert raw not in preview


def test_history_page_shows_hostile_text_as_text(app, shop, client, hostile):
    response = client.get("/panel/products/666")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert_no_live_xss(text)
    assert f"History of {ESCAPED_TITLE}" in text
    assert "&lt;script&gt;alert(11)&lt;/script&gt;" in text


def test_hostile_review_reasons_are_text(app, shop, client, hostile):
    other = make_draft(app, shop, "667")
    assert post_form(client, f"/panel/drafts/{other}", action="reject",
                 reason="<script>alert(16)</script>").status_code == 302
    for path in (f"/panel/drafts/{other}", "/panel/products/667"):
        text = client.get(path).get_data(as_text=True)
        assert_no_live_xss(text)
        assert "&lt;script&gt;alert(16)&lt;/script&gt;" in text


def test_notices_come_from_code_not_the_url(app, shop, client):
    draft_id = make_draft(app, shop)
    text = client.get(f"/panel/drafts/{draft_id}",
                      query_string={"msg": "<script>alert(17)</script>", "ref": "<b>x</b>"}).get_data(as_text=True)
    assert "alert(17)" not in text and "<b>x</b>" not in text
    text = client.get("/panel/", query_string={"msg": "approved", "ref": "<script>alert(18)</script>"}
                      ).get_data(as_text=True)
    assert "Draft  approved" in text and "alert(18)" not in text
