/*
 * The merchant portal's chat page (served by bot/rasa/channels/webchat.py). Plain JavaScript, no build.
 *
 * Identity: the portal opens this page with ?token=<signed token>; the token moves to
 * sessionStorage (it survives a reload, not the closed tab) and leaves the address bar. The server
 * decides the conversation from the token; the page never names a conversation itself.
 * On load: config -> socket.io connection (the token is checked) -> history (redraws the chat).
 * All merchant-visible text is set with textContent: nothing received is ever parsed as HTML.
 * While an agent has the conversation: the agent's replies arrive as bot_uttered with `agent` (the
 * agent's display name) and `outbox_id`, shown as the agent's; the bot's only answer to the
 * merchant's messages is the mark {custom: {delivered_to_agent, label}}, shown small under the message.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "webchat.token";
  var TYPING_TIMEOUT_MS = 60000; // never leave the typing dots up forever if a reply is lost
  var EXPIRED_TEXT = "登录已过期，请从商户门户重新打开";

  var state = { config: null, token: null, socket: null, waiting: 0, typingTimer: null,
                loadingHistory: false, pending: [], drawnOutbox: {} };

  function el(id) { return document.getElementById(id); }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // ---- token -------------------------------------------------------------------------------

  function takeToken() {
    var params = new URLSearchParams(window.location.search);
    var fromUrl = params.get("token");
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete("token");
      var query = params.toString();
      history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function authHeaders() { return { Authorization: "Bearer " + state.token }; }

  function expire() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    if (state.socket) { state.socket.disconnect(); state.socket = null; }
    stopWaiting();
    setComposerEnabled(false);
    showNotice(EXPIRED_TEXT, true);
    if (state.config && state.config.demo_login) showDemoLogin();
  }

  // ---- start -------------------------------------------------------------------------------

  function start() {
    bindComposer();
    fetch("config").then(function (reply) { return reply.json(); }).then(function (config) {
      state.config = config;
      applyConfig(config);
      state.token = takeToken();
      if (state.token) {
        connect();
      } else if (config.demo_login) {
        showDemoLogin();
      } else {
        showNotice(EXPIRED_TEXT, true);
      }
    }).catch(function () {
      showNotice("无法连接客服服务，请检查网络后刷新页面。", true);
    });
  }

  function applyConfig(config) {
    if (config.brand_name) {
      el("brand").textContent = config.brand_name + " 在线客服";
      document.title = config.brand_name + " 在线客服";
    }
    var select = el("doc-kind");
    (config.document_kinds || []).forEach(function (kind) {
      var option = make("option", null, kind.label);
      option.value = kind.kind;
      select.appendChild(option);
    });
    var megabytes = Math.floor(config.max_upload_bytes / (1024 * 1024));
    el("upload-hint").textContent = "支持JPG、PNG照片或PDF文件，单个不超过" + megabytes + "MB。";
  }

  function showDemoLogin() {
    var box = el("demo-merchants");
    box.textContent = "";
    state.config.demo_merchants.forEach(function (merchant) {
      var button = make("button", "demo-merchant", merchant.name + " " + merchant.masked);
      button.type = "button";
      button.addEventListener("click", function () { demoLogin(merchant.merchant); });
      box.appendChild(button);
    });
    el("login").hidden = false;
  }

  function demoLogin(number) {
    fetch("demo-login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ merchant: number })
    }).then(function (reply) {
      if (!reply.ok) throw new Error("demo login refused");
      return reply.json();
    }).then(function (body) {
      sessionStorage.setItem(TOKEN_KEY, body.token);
      state.token = body.token;
      el("login").hidden = true;
      hideNotice();
      connect();
    }).catch(function () { showNotice("演示登录失败，请刷新页面重试。", true); });
  }

  // ---- history -----------------------------------------------------------------------------

  // Outbox messages (an agent's reply...) pushed while the history loads are drawn after it, each
  // once: the history may hold them already (same outbox_id).
  function loadHistory() {
    state.loadingHistory = true;
    return fetch("history", { headers: authHeaders() }).then(function (reply) {
      if (reply.status === 401 || reply.status === 403) { expire(); return false; }
      if (!reply.ok) throw new Error("history " + reply.status);
      return reply.json().then(function (body) {
        el("messages").textContent = "";
        state.drawnOutbox = {};
        if (body.merchant) el("who").textContent = "商户编号 " + body.merchant;
        body.messages.forEach(function (entry) {
          if (entry.sender === "user") renderUserEntry(entry); else renderBot(entry);
        });
        disableOldButtons();
        if (!body.messages.length) {
          addSystem("您好！您可以输入“我要修改结算卡”开始办理，也可以直接提问，例如“审核要几天”。");
        }
        scrollDown();
        return true;
      });
    }).catch(function () {
      showNotice("聊天记录加载失败，请检查网络后刷新页面。", true);
      return false;
    }).then(function (ok) {
      state.loadingHistory = false;
      var pending = state.pending;
      state.pending = [];
      pending.forEach(renderBot);
      scrollDown();
      return ok;
    });
  }

  function renderUserEntry(entry) {
    if (entry.kind === "upload") addUser("已上传一份材料", true);
    else if (entry.kind === "too_long") addUser("（一条过长的消息，未处理）", true);
    else addUser(entry.text);
  }

  // ---- socket.io ---------------------------------------------------------------------------

  // Connect first (the server checks the token and joins this page to the conversation's room),
  // then draw the conversation so far; after a lost connection, draw it again.
  function connect() {
    var socket = window.io({ path: "/socket.io", auth: { token: state.token } });
    state.socket = socket;
    socket.on("connect", function () {
      hideNotice();
      loadHistory().then(function (ok) { if (ok) setComposerEnabled(true); });
    });
    socket.on("connect_error", function (error) {
      if (error && error.message === "unauthorized") { expire(); return; }
      showNotice("网络连接中断，正在重新连接…", false);
    });
    socket.on("disconnect", function (reason) {
      setComposerEnabled(false);
      if (reason === "io client disconnect") return;
      showNotice("网络连接中断，正在重新连接…", false);
      // socket.io retries by itself except when the server closed the connection; a new attempt
      // shows the login message if the token is no longer valid.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("session_expired", expire);
    socket.on("bot_uttered", function (message) {
      if (message.outbox_id && state.loadingHistory) { state.pending.push(message); return; }
      renderBot(message);
      scrollDown();
    });
    socket.on("turn_complete", stopWaiting);
  }

  function sendText(message, shown) {
    if (!state.socket || !state.socket.connected) {
      showNotice("网络未连接，消息没有发出，请稍后再试。", false);
      return false;
    }
    disableOldButtons(true);
    addUser(shown);
    startWaiting();
    state.socket.emit("user_uttered", { message: message });
    return true;
  }

  // ---- rendering ---------------------------------------------------------------------------

  function addMessage(kind, content) {
    var item = make("li", "msg " + kind);
    var bubble = make("div", "bubble");
    if (typeof content === "string") bubble.textContent = content; else bubble.appendChild(content);
    item.appendChild(bubble);
    el("messages").appendChild(item);
    scrollDown();
    return item;
  }

  function addUser(text, muted) {
    var item = addMessage("user", text);
    if (muted) item.firstChild.classList.add("muted");
    return item;
  }

  // An agent's reply: the agent's display name above the bubble.
  function addAgent(name, text) {
    var item = addMessage("bot agent", text);
    item.insertBefore(make("div", "agent-name", "客服 " + name), item.firstChild);
    return item;
  }

  // "Delivered to the agent": a small line under the merchant's latest message, not a bot bubble.
  function markDelivered(label) {
    var users = el("messages").querySelectorAll(".msg.user");
    var last = users.length ? users[users.length - 1] : null;
    if (!last || last.querySelector(".delivered")) return;
    last.appendChild(make("div", "note delivered", label || "已送达"));
  }

  function addSystem(text, refusal) { return addMessage(refusal ? "system refusal" : "system", text); }

  // Rasa's socket.io format: {text}, {text, quick_replies}, {attachment: {type: "image"}};
  // history entries use {text, buttons} and {image}; outbox messages carry outbox_id (and agent).
  function renderBot(message) {
    if (message.outbox_id) {
      if (state.drawnOutbox[message.outbox_id]) return;
      state.drawnOutbox[message.outbox_id] = true;
    }
    if (message.custom && message.custom.delivered_to_agent) { markDelivered(message.custom.label); return; }
    var item = null;
    if (message.text && message.agent) item = addAgent(message.agent, message.text);
    else if (message.text) item = addMessage("bot", message.text);
    var image = message.image || (message.attachment && message.attachment.type === "image" &&
                                  message.attachment.payload && message.attachment.payload.src);
    if (image) {
      var img = make("img");
      img.src = image;
      img.alt = "图片";
      img.referrerPolicy = "no-referrer";
      item = addMessage("bot", img);
    }
    var buttons = message.quick_replies || message.buttons;
    if (buttons && buttons.length) {
      item = item || addMessage("bot", "");
      item.appendChild(renderButtons(buttons));
    }
  }

  function renderButtons(buttons) {
    var group = make("div", "quick-replies");
    buttons.forEach(function (spec) {
      var button = make("button", null, spec.title);
      button.type = "button";
      button.addEventListener("click", function () {
        if (sendText(spec.payload, spec.title)) button.classList.add("chosen");
      });
      group.appendChild(button);
    });
    return group;
  }

  // Buttons belong to the question they came with: once the merchant answers (or after a
  // reload, for all but the last message), earlier buttons are no longer offered.
  function disableOldButtons(all) {
    var groups = el("messages").querySelectorAll(".quick-replies");
    var items = el("messages").children;
    var last = items.length ? items[items.length - 1] : null;
    Array.prototype.forEach.call(groups, function (group) {
      if (!all && group.parentNode === last) return;
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (button) { button.disabled = true; });
    });
  }

  function scrollDown() { var chat = el("chat"); chat.scrollTop = chat.scrollHeight; }

  function showNotice(text, isError) {
    var notice = el("notice");
    notice.textContent = text;
    notice.className = "notice" + (isError ? " error" : "");
    notice.hidden = false;
  }

  function hideNotice() { el("notice").hidden = true; }

  // ---- typing indicator ---------------------------------------------------------------------

  function startWaiting() {
    state.waiting += 1;
    el("typing").hidden = false;
    scrollDown();
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopWaiting, TYPING_TIMEOUT_MS);
  }

  function stopWaiting() {
    state.waiting = 0;
    clearTimeout(state.typingTimer);
    el("typing").hidden = true;
  }

  // ---- composer ----------------------------------------------------------------------------

  function characters(text) { return Array.from(text).length; } // as the server counts them

  function setComposerEnabled(enabled) {
    el("input").disabled = !enabled;
    el("attach").disabled = !enabled;
    updateLimit();
  }

  function updateLimit() {
    var input = el("input");
    var max = state.config ? state.config.max_message_chars : 500;
    var over = characters(input.value) > max;
    var hint = el("limit-hint");
    hint.hidden = !over;
    if (over) hint.textContent = "每条消息最多" + max + "个字，当前" + characters(input.value) + "个字。请删减或分几条发送。";
    el("send").disabled = input.disabled || over || !input.value.trim();
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  function bindComposer() {
    var input = el("input");
    input.addEventListener("input", updateLimit);
    input.addEventListener("keydown", function (event) {
      // Enter sends; Shift+Enter is a new line; Enter while a Chinese IME composes only picks a word.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        el("send-form").requestSubmit();
      }
    });
    el("send-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text || el("send").disabled) return;
      if (sendText(text, text)) { input.value = ""; updateLimit(); }
    });
    el("attach").addEventListener("click", function () { el("upload-panel").hidden = !el("upload-panel").hidden; });
    el("take-photo").addEventListener("click", function () { el("camera-input").click(); });
    el("pick-file").addEventListener("click", function () { el("file-input").click(); });
    ["camera-input", "file-input"].forEach(function (id) {
      el(id).addEventListener("change", function (event) {
        var file = event.target.files && event.target.files[0];
        event.target.value = ""; // choosing the same file again must fire `change` again
        if (file) upload(file);
      });
    });
  }

  // ---- uploads -----------------------------------------------------------------------------

  function upload(file) {
    var select = el("doc-kind");
    var label = select.value ? select.options[select.selectedIndex].textContent : "材料";
    if (file.size > state.config.max_upload_bytes) {
      addSystem("文件“" + file.name + "”超过" + Math.floor(state.config.max_upload_bytes / 1048576) +
                "MB，没有上传。请压缩照片或拍得小一些后重新上传。", true);
      return;
    }
    var preview = addUser(uploadPreview(file, label));
    el("upload-panel").hidden = true;
    var form = new FormData();
    form.append("file", file);
    if (select.value) form.append("kind", select.value);
    startWaiting();
    fetch("upload", { method: "POST", headers: authHeaders(), body: form }).then(function (reply) {
      if (reply.status === 401) { expire(); return; }
      return reply.json().then(function (body) {
        if (!reply.ok) refused(body.text || "上传失败，请重新上传。");
      });
    }).catch(function () { refused("上传失败，请检查网络后重新上传。"); });

    function refused(reason) {
      stopWaiting();
      markNotUploaded(preview, file.name);
      addSystem(reason, true);
    }
  }

  function markNotUploaded(preview, name) {
    var bubble = preview.firstChild;
    bubble.textContent = "未上传：" + name;
    bubble.classList.add("muted");
  }

  function uploadPreview(file, label) {
    var box = make("div");
    if (/^image\//.test(file.type)) {
      var img = make("img");
      img.src = URL.createObjectURL(file);
      img.alt = label;
      box.appendChild(img);
    }
    box.appendChild(make("div", "caption", "上传" + label + "：" + file.name));
    return box;
  }

  start();
})();
