// The agents' live pages (console/handoffs.py): the queue and a conversation, kept current with
// server-sent events. Everything from the server is put on the page with textContent, never as
// HTML. Forms still work without this file (post and redirect); with it, replies and notes are
// sent with fetch (the CSRF token from the csrf-token meta tag) and the page stays where it is.
(function () {
  "use strict";

  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function liveState(source) {
    var badge = document.getElementById("live-state");
    if (!badge) return;
    function show(state, text) { badge.setAttribute("data-state", state); badge.textContent = text; }
    source.addEventListener("open", function () { show("open", "实时更新中"); });
    source.addEventListener("error", function () {
      // CLOSED: the server refused (signed out): the browser will not retry by itself.
      if (source.readyState === EventSource.CLOSED) show("closed", "连接已断开，请刷新页面或重新登录");
      else show("retrying", "连接中断，正在重连…");
    });
  }

  function waited(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60), rest = seconds % 60;
    if (hours) return hours + "小时" + minutes + "分";
    return minutes ? minutes + "分" + rest + "秒" : rest + "秒";
  }

  // --- the queue -------------------------------------------------------------------------------
  function queuePage(table) {
    var body = table.querySelector("tbody");
    var empty = document.getElementById("queue-empty");
    var overdueAfter = Number(table.getAttribute("data-overdue-after"));
    var received = Date.now();

    function claimForm(entry) {
      var form = el("form");
      form.method = "post";
      form.action = table.getAttribute("data-claim").replace("/0/", "/" + encodeURIComponent(entry.id) + "/");
      var token = el("input");
      token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
      form.appendChild(token);
      form.appendChild(el("button", null, "接入"));
      return form;
    }

    function row(entry) {
      var tr = el("tr", entry.status + (entry.overdue ? " overdue" : ""));
      tr.setAttribute("data-id", entry.id);
      var time = el("td", "waited", waited(entry.waiting_seconds));
      time.setAttribute("data-seconds", entry.waiting_seconds);
      tr.appendChild(time);
      tr.appendChild(el("td", null, entry.reason));
      tr.appendChild(el("td", null, entry.channel));
      tr.appendChild(el("td", null, entry.merchant));
      tr.appendChild(el("td", null, entry.status_label + (entry.agent ? "（" + entry.agent + "）" : "")));
      var actions = el("td", "actions");
      if (entry.status === "waiting") {
        actions.appendChild(claimForm(entry));
      } else {
        var link = el("a", null, "查看");
        link.href = table.getAttribute("data-view").replace(/\/0$/, "/" + encodeURIComponent(entry.id));
        actions.appendChild(link);
      }
      tr.appendChild(actions);
      return tr;
    }

    function draw(queue) {
      received = Date.now();
      overdueAfter = queue.overdue_after_seconds;
      body.replaceChildren.apply(body, queue.entries.map(row));
      empty.hidden = queue.entries.length > 0;
    }

    // The server sends the queue when it changes; the waiting times count on here.
    setInterval(function () {
      var elapsed = (Date.now() - received) / 1000;
      body.querySelectorAll("tr").forEach(function (tr) {
        var cell = tr.querySelector("td.waited");
        var seconds = Number(cell.getAttribute("data-seconds")) + elapsed;
        cell.textContent = waited(seconds);
        if (tr.classList.contains("waiting") && seconds > overdueAfter) tr.classList.add("overdue");
      });
    }, 1000);

    var source = new EventSource(table.getAttribute("data-stream"));
    liveState(source);
    source.addEventListener("queue", function (event) { draw(JSON.parse(event.data)); });
  }

  // --- one conversation ------------------------------------------------------------------------
  var SENDERS = { merchant: "商户", bot: "机器人" };

  function conversationPage(root) {
    var messages = document.getElementById("messages");
    var transcript = document.getElementById("transcript");
    var shown = {};
    messages.querySelectorAll(".msg[data-id]").forEach(function (node) { shown[node.getAttribute("data-id")] = true; });

    function add(message) {
      if (shown[message.id]) return;
      shown[message.id] = true;
      var who = SENDERS[message.from] || "";
      if (message.from === "agent") who = "客服 " + (message.author || "");
      if (message.from === "note") who = "内部备注 · " + (message.author || "") + "（商户不可见）";
      var node = el("div", "msg " + message.from);
      node.setAttribute("data-id", message.id);
      node.appendChild(el("div", "meta", who + " · " + String(message.at || "").slice(11, 19)));
      node.appendChild(el("div", "text", message.text));
      messages.appendChild(node);
      transcript.scrollTop = transcript.scrollHeight;
    }

    var url = root.getAttribute("data-stream") + "?after=" + encodeURIComponent(root.getAttribute("data-after"));
    var source = new EventSource(url);
    liveState(source);
    source.addEventListener("message", function (event) { add(JSON.parse(event.data)); });
    source.addEventListener("status", function (event) {
      var state = JSON.parse(event.data);
      document.getElementById("status").textContent = state.status_label + (state.agent ? "（" + state.agent + "）" : "");
    });
    transcript.scrollTop = transcript.scrollHeight;

    function sendWithFetch(form, stateId) {
      if (!form) return;
      var state = document.getElementById(stateId);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var text = form.querySelector("textarea");
        var button = form.querySelector("button[type=submit]");
        button.disabled = true;
        state.textContent = "发送中…";
        fetch(form.action, {
          method: "POST", credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRFToken": csrf },
          body: new URLSearchParams({ text: text.value })
        }).then(function (reply) {
          return reply.json().catch(function () { return { ok: false, message: "发送失败（" + reply.status + "）" }; });
        }).then(function (answer) {
          state.textContent = answer.message || "";
          state.classList.toggle("error", !answer.ok);
          if (answer.ok) text.value = "";  // the message itself arrives with the stream
        }).catch(function () {
          state.textContent = "网络异常，未发送，请重试。";
          state.classList.add("error");
        }).finally(function () { button.disabled = false; });
      });
    }
    sendWithFetch(document.getElementById("reply-form"), "reply-state");
    sendWithFetch(document.getElementById("note-form"), "note-state");

    var canned = document.getElementById("canned");
    if (canned) {
      canned.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-text]");
        if (!button) return;
        var box = document.getElementById("reply-text");
        box.value = button.getAttribute("data-text");
        box.focus();
      });
    }
  }

  var table = document.getElementById("queue");
  if (table) queuePage(table);
  var root = document.getElementById("conversation");
  if (root) conversationPage(root);
})();
