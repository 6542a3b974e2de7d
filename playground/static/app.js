// devtrack playground: one chat per identity with the bot, drawn from the emulator's state.
// Plain script, no build step: long-polls /api/chat and posts what the person does.
"use strict";

const state = {
  bot: null,
  identities: [],
  current: null,        // identity object
  version: 0,           // last emulator version drawn
  seen: {},             // user_id -> message count seen (unread badges)
  counts: {},
  poll: null,           // AbortController of the pending long poll
  commands: [],
};

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = Object.assign({ "X-Playground": "1" }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || data.ok === false) throw new Error(data.error || response.statusText);
  return data;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

// --- rendering of Telegram messages ---------------------------------------------------------

const SIMPLE_TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code",
  pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote",
};

function deepLinkStart(href) {
  // t.me/<bot>?start=N (or tg://resolve?domain=<bot>&start=N) opens /start N here.
  try {
    const url = new URL(href, location.href);
    const bot = state.bot ? state.bot.username.toLowerCase() : "";
    const isTme = /(^|\.)t\.me$|(^|\.)telegram\.me$/.test(url.hostname)
      && url.pathname.replace(/\//g, "").toLowerCase() === bot;
    const isTg = url.protocol === "tg:" && (url.searchParams.get("domain") || "").toLowerCase() === bot;
    if ((isTme || isTg) && url.searchParams.has("start")) return url.searchParams.get("start");
  } catch (e) { /* not a URL */ }
  return null;
}

function link(href, text) {
  const a = document.createElement("a");
  a.textContent = text;
  a.href = href;
  if (deepLinkStart(href) === null) {
    if (!/^https?:/i.test(a.href)) a.removeAttribute("href");
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

// Plain text with Telegram's automatic links: URLs and /commands (a tap sends the command).
function appendPlain(parent, text, clickable) {
  const pattern = /(https?:\/\/[^\s<>"]+)|(^|[\s(])(\/[a-z][a-z0-9_]{0,31})(?=$|[\s.,)])/gi;
  let last = 0;
  let match;
  while (clickable && (match = pattern.exec(text)) !== null) {
    const start = match.index + (match[2] ? match[2].length : 0);
    parent.appendChild(document.createTextNode(text.slice(last, start)));
    if (match[1]) {
      parent.appendChild(link(match[1], match[1]));
    } else {
      const command = document.createElement("a");
      command.className = "command-link";
      command.textContent = match[3];
      command.href = "#";
      command.dataset.command = match[3];
      parent.appendChild(command);
    }
    last = start + (match[1] || match[3]).length;
  }
  parent.appendChild(document.createTextNode(text.slice(last)));
}

function wrap(entity, node) {
  let element;
  if (entity.type === "text_link") {
    element = link(entity.url, "");
  } else if (entity.type === "spoiler") {
    element = document.createElement("span");
    element.className = "spoiler";
    element.title = "Spoiler: click to show";
  } else if (SIMPLE_TAGS[entity.type]) {
    element = document.createElement(SIMPLE_TAGS[entity.type]);
  } else {
    return node;
  }
  element.appendChild(node);
  return element;
}

// Entities use UTF-16 offsets, which is what JavaScript strings index by.
function renderText(text, entities, clickable) {
  const fragment = document.createDocumentFragment();
  const list = entities || [];
  const points = new Set([0, text.length]);
  for (const e of list) { points.add(e.offset); points.add(e.offset + e.length); }
  const sorted = [...points].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  for (let i = 0; i < sorted.length - 1; i += 1) {
    const from = sorted[i];
    const to = sorted[i + 1];
    const active = list
      .filter((e) => e.offset <= from && e.offset + e.length >= to)
      .sort((a, b) => a.length - b.length || b.offset - a.offset);
    const inLink = active.some((e) => e.type === "text_link" || e.type === "code" || e.type === "pre");
    let node = document.createDocumentFragment();
    appendPlain(node, text.slice(from, to), clickable && !inLink);
    for (const e of active) node = wrap(e, node);
    fragment.appendChild(node);
  }
  return fragment;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function formatTime(seconds) {
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function renderMessage(message) {
  const mine = message.from && message.from.id === state.current.user_id;
  const row = document.createElement("div");
  row.className = `msg ${mine ? "out" : "in"}`;
  row.dataset.messageId = message.message_id;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  row.appendChild(bubble);

  if (message.document) {
    const doc = message.document;
    const file = document.createElement("a");
    file.className = "document";
    file.href = `/api/file/${encodeURIComponent(doc.file_id)}`;
    file.setAttribute("download", doc.file_name || "file");
    const icon = document.createElement("span");
    icon.className = "document-icon";
    icon.textContent = "⬇";
    const name = document.createElement("span");
    name.className = "document-name";
    name.textContent = doc.file_name || "file";
    const size = document.createElement("span");
    size.className = "document-size";
    size.textContent = formatSize(doc.file_size || 0);
    const info = document.createElement("span");
    info.className = "document-info";
    info.append(name, size);
    file.append(icon, info);
    bubble.appendChild(file);
  }
  const text = message.text !== undefined ? message.text : message.caption;
  if (text) {
    const body = document.createElement("div");
    body.className = "text";
    const entities = message.text !== undefined ? message.entities : message.caption_entities;
    body.appendChild(renderText(text, entities, !mine));
    bubble.appendChild(body);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = (message.edit_date ? "edited " : "") + formatTime(message.edit_date || message.date);
  bubble.appendChild(meta);

  const keyboard = message.reply_markup && message.reply_markup.inline_keyboard;
  if (keyboard && keyboard.length) {
    const kb = document.createElement("div");
    kb.className = "keyboard";
    for (const buttons of keyboard) {
      const line = document.createElement("div");
      line.className = "kb-row";
      for (const button of buttons) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "kb-btn";
        b.textContent = button.text;
        if (button.callback_data !== undefined) {
          b.dataset.data = button.callback_data;
          b.dataset.messageId = message.message_id;
        } else if (button.url) {
          b.dataset.url = button.url;
          b.textContent = `${button.text} ↗`;
        }
        line.appendChild(b);
      }
      kb.appendChild(line);
    }
    row.appendChild(kb);
  }
  return row;
}

function renderChat(data) {
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const before = box.querySelectorAll(".msg").length;
  box.replaceChildren(...data.messages.map(renderMessage));
  $("start-wrap").hidden = data.messages.length > 0;
  $("composer").hidden = data.messages.length === 0;
  if (nearBottom || data.messages.length !== before) box.scrollTop = box.scrollHeight;
  state.commands = data.commands || [];
  state.counts = data.counts || {};
  state.seen[state.current.user_id] = state.counts[state.current.user_id] || 0;
  renderBadges();
}

// --- identities -----------------------------------------------------------------------------

function renderIdentities() {
  const nav = $("identities");
  nav.replaceChildren(...state.identities.map((identity) => {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.className = "identity";
    tab.dataset.identity = identity.key;
    tab.setAttribute("role", "tab");
    const label = document.createElement("span");
    label.className = "identity-label";
    label.textContent = identity.label;
    const name = document.createElement("span");
    name.className = "identity-name";
    name.textContent = identity.name;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.hidden = true;
    tab.append(label, name, badge);
    tab.addEventListener("click", () => choose(identity.key));
    return tab;
  }));
}

function renderBadges() {
  for (const tab of document.querySelectorAll(".identity")) {
    const identity = state.identities.find((i) => i.key === tab.dataset.identity);
    const unread = (state.counts[identity.user_id] || 0) - (state.seen[identity.user_id] || 0);
    const badge = tab.querySelector(".badge");
    badge.hidden = identity === state.current || unread <= 0;
    badge.textContent = unread > 0 ? String(unread) : "";
    tab.classList.toggle("active", identity === state.current);
    tab.setAttribute("aria-selected", identity === state.current ? "true" : "false");
  }
}

function choose(key) {
  const identity = state.identities.find((i) => i.key === key) || state.identities[0];
  state.current = identity;
  localStorage.setItem("playground-identity", identity.key);
  $("identity-note").textContent = `${identity.name}${identity.email ? ` · ${identity.email}` : ""} · Telegram id ${identity.user_id} — ${identity.note}`;
  $("chat-with").textContent = `you are ${identity.name}`;
  $("command-menu").hidden = true;
  $("messages").replaceChildren();
  renderBadges();
  restartPolling();
}

// --- polling --------------------------------------------------------------------------------

function restartPolling() {
  if (state.poll) state.poll.abort();
  const controller = new AbortController();
  state.poll = controller;
  pollLoop(controller, state.current, true);
}

async function pollLoop(controller, identity, first) {
  let since = state.version;
  let wait = !first;
  while (!controller.signal.aborted) {
    try {
      const url = `/api/chat?user=${identity.user_id}&since=${first ? 0 : since}&wait=${wait ? 1 : 0}`;
      const data = await api(url, { signal: controller.signal });
      if (controller.signal.aborted) return;
      if (!first) for (const alert of data.alerts) showAnswer(alert);
      first = false;
      since = data.version;
      state.version = data.version;
      renderChat(data);
      wait = true;
    } catch (error) {
      if (controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));  // server restarting?
    }
  }
}

// --- toasts and alerts (answered buttons) ---------------------------------------------------

let toastTimer = null;

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

function showAnswer(alert) {
  if (alert.show_alert) {
    $("alert-text").textContent = alert.text;
    $("alert").hidden = false;
    $("alert-ok").focus();
  } else {
    toast(alert.text);
  }
}

// --- actions --------------------------------------------------------------------------------

async function sendText(text) {
  const value = text.trim();
  if (!value) return;
  try {
    await post("/api/send", { user: state.current.user_id, text: value });
  } catch (error) {
    toast(`Not sent: ${error.message}`);
  }
}

async function press(button) {
  button.classList.add("pending");
  try {
    await post("/api/press", {
      user: state.current.user_id,
      message_id: Number(button.dataset.messageId),
      data: button.dataset.data,
    });
  } catch (error) {
    button.classList.remove("pending");
    toast(`Button failed: ${error.message}`);
  }
}

async function upload(file) {
  const params = new URLSearchParams({ user: state.current.user_id, name: file.name });
  try {
    await api(`/api/upload?${params}`, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
  } catch (error) {
    toast(`Upload failed: ${error.message}`);
  }
}

function openDeepLink(start) {
  sendText(start ? `/start ${start}` : "/start");
}

function toggleMenu() {
  const menu = $("command-menu");
  if (!menu.hidden) { menu.hidden = true; return; }
  menu.replaceChildren(...state.commands.map((c) => {
    const item = document.createElement("button");
    item.type = "button";
    item.className = "command";
    item.dataset.command = `/${c.command}`;
    const name = document.createElement("span");
    name.className = "command-name";
    name.textContent = `/${c.command}`;
    const description = document.createElement("span");
    description.className = "command-description";
    description.textContent = c.description;
    item.append(name, description);
    return item;
  }));
  if (!state.commands.length) menu.textContent = "The bot has not set a command menu.";
  menu.hidden = false;
}

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("composer-text");
    sendText(input.value);
    input.value = "";
  });
  $("start-button").addEventListener("click", () => openDeepLink(""));
  $("menu-button").addEventListener("click", toggleMenu);
  $("command-menu").addEventListener("click", (event) => {
    const item = event.target.closest(".command");
    if (!item) return;
    $("command-menu").hidden = true;
    sendText(item.dataset.command);
  });
  $("file-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) upload(file);
    event.target.value = "";
  });
  $("messages").addEventListener("click", (event) => {
    const button = event.target.closest(".kb-btn");
    if (button && button.dataset.data !== undefined) { press(button); return; }
    if (button && button.dataset.url) {
      const start = deepLinkStart(button.dataset.url);
      if (start !== null) openDeepLink(start); else window.open(button.dataset.url, "_blank", "noopener");
      return;
    }
    const command = event.target.closest(".command-link");
    if (command) { event.preventDefault(); sendText(command.dataset.command); return; }
    const spoiler = event.target.closest(".spoiler");
    if (spoiler) spoiler.classList.add("revealed");
  });
  // Any deep link on the page, in a message or not, opens in this chat.
  document.addEventListener("click", (event) => {
    const a = event.target.closest("a[href]");
    if (!a) return;
    const start = deepLinkStart(a.href);
    if (start === null) return;
    event.preventDefault();
    openDeepLink(start);
  });
  $("alert-ok").addEventListener("click", () => { $("alert").hidden = true; });
  // The command menu closes like Telegram's: a click elsewhere or Escape.
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#command-menu, #menu-button")) $("command-menu").hidden = true;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    $("command-menu").hidden = true;
    $("alert").hidden = true;
  });
  $("run-reminders").addEventListener("click", async () => {
    const button = $("run-reminders");
    button.disabled = true;
    try {
      const data = await post("/api/reminders", {});
      toast(`Reminder run: ${data.result}`);
    } catch (error) {
      toast(`Reminder run failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  $("reset").addEventListener("click", async () => {
    if (!confirm("Reset the playground? The sample inventory comes back and every chat is emptied.")) return;
    try {
      const data = await post("/api/reset", {});
      state.seen = {};
      toast(data.result);
    } catch (error) {
      toast(`Reset failed: ${error.message}`);
    }
  });
}

async function main() {
  wire();
  const data = await api("/api/state");
  state.bot = data.bot;
  state.identities = data.identities;
  $("bot-name").textContent = data.bot.name;
  $("bot-username").textContent = `@${data.bot.username} · bot`;
  const example = `https://t.me/${data.bot.username}?start=49`;
  $("deep-link-example").href = example;
  $("deep-link-example").textContent = example;
  renderIdentities();
  const params = new URLSearchParams(location.search);
  choose(params.get("as") || localStorage.getItem("playground-identity") || "newcomer");
  if (params.has("start")) {
    openDeepLink(params.get("start"));
    params.delete("start");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
  }
}

main();
