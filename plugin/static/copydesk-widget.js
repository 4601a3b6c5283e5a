/* Copydesk customer questions widget. No dependencies; text only (textContent, never innerHTML).
 *
 * Shopify (app proxy, same origin):
 *   <script src="/apps/copydesk/widget.js" data-endpoint="/apps/copydesk" data-product="123" defer></script>
 * WooCommerce:
 *   <script src="https://copydesk.example/questions/widget.js" data-app="https://copydesk.example"
 *           data-key="WIDGET_KEY" data-product="123" defer></script>
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var data = script.dataset;
  var base = data.endpoint ? data.endpoint.replace(/\/$/, "") + "/questions"
    : (data.app || new URL(script.src).origin).replace(/\/$/, "") + "/questions/w/" + encodeURIComponent(data.key || "");
  var pollEvery = parseInt(data.poll || "5000", 10);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var box = el("div", { "class": "copydesk-questions", "data-copydesk": "widget" });
  var form = el("form");
  var label = el("label", { "for": "copydesk-question" }, data.label || "Ask a question about this product");
  var question = el("textarea", { id: "copydesk-question", name: "question", maxlength: "1000", rows: "3", required: "" });
  var emailLabel = el("label", { "for": "copydesk-email" }, "Your email (optional)");
  var email = el("input", { id: "copydesk-email", name: "email", type: "email", maxlength: "254" });
  var send = el("button", { type: "submit" }, "Ask");
  var status = el("p", { "class": "copydesk-status", role: "status", "aria-live": "polite" });
  var answer = el("p", { "class": "copydesk-answer", "data-copydesk": "answer" });
  [label, question, emailLabel, email, send].forEach(function (n) { form.appendChild(n); });
  [form, status, answer].forEach(function (n) { box.appendChild(n); });
  script.parentNode.insertBefore(box, script.nextSibling);

  function request(method, url, body) {
    var options = { method: method, headers: {}, credentials: "omit" };
    if (body) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
    return fetch(url, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { j._status = r.status; return j; });
    });
  }

  function poll(token) {
    request("GET", base + "/" + encodeURIComponent(token)).then(function (reply) {
      if (reply.status === "answered" || reply.status === "refused") {
        status.textContent = "";
        answer.textContent = String(reply.answer || "");
        try { window.localStorage.removeItem("copydesk-question"); } catch (e) { /* private mode */ }
        return;
      }
      status.textContent = String(reply.message || "Thanks — a person will answer shortly.");
      window.setTimeout(function () { poll(token); }, pollEvery);
    }).catch(function () { window.setTimeout(function () { poll(token); }, pollEvery * 2); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = { question: question.value };
    if (email.value) { body.email = email.value; }
    if (data.product) { body.product_id = data.product; }
    send.disabled = true;
    request("POST", base, body).then(function (reply) {
      send.disabled = false;
      if (reply._status !== 202) {
        status.textContent = String(reply.error || "Your question could not be sent; please try again later.");
        return;
      }
      question.value = "";
      status.textContent = String(reply.message || "");
      try { window.localStorage.setItem("copydesk-question", reply.token); } catch (e) { /* private mode */ }
      poll(reply.token);
    }).catch(function () {
      send.disabled = false;
      status.textContent = "Your question could not be sent; please try again later.";
    });
  });

  try {
    var waiting = window.localStorage.getItem("copydesk-question");
    if (waiting) { poll(waiting); }
  } catch (e) { /* private mode */ }
})();
