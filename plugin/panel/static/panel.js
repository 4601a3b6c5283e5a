// Copydesk panel: keyboard review, bulk selection, live progress, and session tokens when embedded.
(function () {
  "use strict";
  var body = document.body;
  var embedded = body.dataset.embedded === "1";

  // Inside Shopify admin every navigation and form post carries a fresh session token (they live a
  // minute), fetched from App Bridge at the moment of the click.
  function freshToken() {
    return window.shopify && window.shopify.idToken ? window.shopify.idToken() : Promise.resolve("");
  }
  if (embedded) {
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a[href]");
      if (!link || link.origin !== location.origin || event.defaultPrevented) return;
      event.preventDefault();
      freshToken().then(function (token) {
        var url = new URL(link.href);
        url.searchParams.set("id_token", token);
        location.assign(url.toString());
      });
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.dataset.tokenised === "1") return;
      event.preventDefault();
      var submitter = event.submitter;
      freshToken().then(function (token) {
        var input = form.querySelector("input[name=id_token]") || document.createElement("input");
        input.type = "hidden"; input.name = "id_token"; input.value = token;
        form.appendChild(input);
        if (submitter && submitter.name) {
          var pressed = document.createElement("input");
          pressed.type = "hidden"; pressed.name = submitter.name; pressed.value = submitter.value;
          form.appendChild(pressed);
        }
        form.dataset.tokenised = "1";
        form.submit();
      });
    });
  }

  // Select every draft on the page.
  var all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
    });
  }
  var bulk = document.getElementById("bulk");
  if (bulk) {
    bulk.addEventListener("submit", function (event) {
      var every = bulk.querySelector("input[name=all]");
      var action = event.submitter ? event.submitter.value : "";
      if (every && every.checked && !window.confirm("Really " + action + " every draft matching this filter?")) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    }, true);
  }
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });

  // Characters left in limited fields (SEO title 70, SEO description 160).
  document.querySelectorAll("textarea[data-limit]").forEach(function (area) {
    var counter = area.parentElement.querySelector(".counter");
    function update() {
      var left = Number(area.dataset.limit) - area.value.length;
      if (counter) counter.textContent = left + " characters left";
    }
    area.addEventListener("input", update);
    update();
  });

  // Keys: a approve · r reject · g regenerate · j/k older/newer · / search · Esc leave a field.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target.matches("input, textarea, select");
    if (event.key === "Escape" && typing) { target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    var el = document.querySelector("[data-key='" + CSS.escape(event.key) + "']");
    if (!el) return;
    event.preventDefault();
    if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") { el.focus(); return; }
    el.click();
  });
  // Enter in the reject reason or the regenerate note presses its own button, not "approve".
  document.querySelectorAll(".actions .group input").forEach(function (input) {
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      input.parentElement.querySelector("button").click();
    });
  });

  // Live progress for bulk actions and backfills.
  document.querySelectorAll("[data-poll]").forEach(function (box) {
    function render(data) {
      Object.keys(data).forEach(function (name) {
        var field = box.querySelector("[data-field=" + name + "]");
        if (field && typeof data[name] !== "object") field.textContent = data[name];
      });
      var counts = box.querySelector("[data-field=counts]");
      if (counts && data.counts) {
        counts.textContent = Object.keys(data.counts).map(function (k) { return k + ": " + data.counts[k]; }).join("  ");
      }
      var bar = box.querySelector("progress");
      if (bar && data.finished !== undefined) bar.value = data.finished;
      if (data.done !== undefined) {
        var state = box.querySelector("[data-field=state]");
        if (state) state.textContent = data.done ? "Finished." : "Working…";
      }
      if (data.drafts_written !== undefined) {
        var drafts = box.querySelector("[data-field=drafts]");
        if (drafts) drafts.textContent = data.drafts_written + " drafts written since it started";
      }
      return data.done === true || (data.state !== undefined && data.state !== "running");
    }
    function poll() {
      freshToken().then(function (token) {
        var headers = token ? { Authorization: "Bearer " + token } : {};
        return fetch(box.dataset.poll, { headers: headers, credentials: "same-origin" });
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (data && !render(data)) setTimeout(poll, 2000);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  });
})();
