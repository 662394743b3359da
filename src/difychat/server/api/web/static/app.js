// The chat page: /chat/<code> (with the conversation list) and /chatbot/<code> (the compact page
// the embed bubble frames). It asks /api for a passport, the app's site and parameters, then draws
// the sidebar, the thread and the composer.

import { Api } from "./api.js";
import { Composer } from "./composer.js";
import { clear, h, icon, iconButton, safeHref } from "./dom.js";
import { fillTemplate, formFields, initialInputs, inputsForm, missingRequired, requestInputs } from "./inputs.js";
import { renderMarkdown } from "./markdown.js";
import { Sidebar } from "./sidebar.js";
import { redraw, turnFromHistory, turnView } from "./thread.js";

const root = document.documentElement;
const mode = root.dataset.mode === "chatbot" ? "chatbot" : "chat";
const code = root.dataset.code;
const framed = window.parent !== window;
const THEME_KEY = "difychat-theme";
const CONVERSATIONS_KEY = "conversationIdInfo";

// --- theme ---------------------------------------------------------------------------------------

const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function storedTheme() {
  try {
    return localStorage.getItem(THEME_KEY);
  } catch {
    return null;
  }
}

function applyTheme() {
  const choice = storedTheme();
  const dark = choice === "dark" || (choice !== "light" && systemDark.matches);
  root.dataset.theme = dark ? "dark" : "light";
}

function toggleTheme() {
  const next = root.dataset.theme === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(THEME_KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  root.dataset.theme = next;
  themeButton.replaceWith((themeButton = themeToggle()));
}

function themeToggle() {
  const dark = root.dataset.theme === "dark";
  return iconButton(dark ? "sun" : "moon", dark ? "Light mode" : "Dark mode", toggleTheme,
    { class: "icon-button theme-toggle" });
}

applyTheme();
systemDark.addEventListener("change", applyTheme);
let themeButton = themeToggle();

// --- the page's URL: inputs and system variables (gzip + base64 from the embed script) -----------

async function gunzipBase64(value) {
  const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}

async function decoded(value, encoded) {
  if (!encoded) return value;
  try {
    return await gunzipBase64(value);
  } catch {
    return value; // a plain value where an encoded one was expected
  }
}

async function readUrl() {
  const inputs = {};
  const system = {};
  for (const [key, value] of new URLSearchParams(location.search)) {
    if (key === "locale") continue;
    if (key.startsWith("sys.")) system[key.slice(4)] = await decoded(value, true);
    else if (!key.startsWith("user.")) inputs[key] = await decoded(value, mode === "chatbot");
  }
  return { inputs, system };
}

// --- state ---------------------------------------------------------------------------------------

const base = new URL("../", location.href);
const api = new Api(base, code, { framed });
const state = {
  conversationId: null,
  turns: [],
  inputs: {},
  responding: false,
  taskId: null,
  abort: null,
};
const ctx = { api, state, site: null, parameters: null, actions: {} };
let fields = [];
let urlInputs = {};
let userKey = "DEFAULT";
let sidebar = null;
let composer = null;
let audio = null;
const elements = {};

function remembered() {
  try {
    const all = JSON.parse(localStorage.getItem(CONVERSATIONS_KEY) || "{}");
    return (all[ctx.appId] || {})[userKey] || null;
  } catch {
    return null;
  }
}

function remember(conversationId) {
  try {
    const all = JSON.parse(localStorage.getItem(CONVERSATIONS_KEY) || "{}");
    all[ctx.appId] = { ...(all[ctx.appId] || {}), [userKey]: conversationId || "" };
    localStorage.setItem(CONVERSATIONS_KEY, JSON.stringify(all));
  } catch {
    // nothing remembered: the next visit starts a new conversation
  }
}

// --- messages ------------------------------------------------------------------------------------

let toastTimer = null;

function showError(message) {
  elements.toast.textContent = message;
  elements.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    elements.toast.hidden = true;
  }, 6000);
}

function nearBottom() {
  const el = elements.scroller;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
}

function scrollToEnd() {
  elements.scroller.scrollTop = elements.scroller.scrollHeight;
}

let pending = new Set();
let frame = 0;

// Streaming answers are redrawn at most once per frame.
function schedule(turn) {
  pending.add(turn);
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const follow = nearBottom();
    for (const each of pending) redraw(each, ctx);
    pending = new Set();
    if (follow) scrollToEnd();
  });
}

// --- the thread ----------------------------------------------------------------------------------

function appIcon(large) {
  const site = ctx.site;
  if (site.icon_type === "image" && site.icon_url && safeHref(site.icon_url)) {
    return h("img", { class: `app-icon${large ? " large" : ""}`, src: site.icon_url, alt: "" });
  }
  const el = h("span", { class: `app-icon${large ? " large" : ""}`, "aria-hidden": "true", text: site.icon || "💬" });
  if (site.icon_background) el.style.background = site.icon_background;
  return el;
}

function openingView(values) {
  const statement = fillTemplate(ctx.parameters.opening_statement, values);
  const questions = (ctx.parameters.suggested_questions || []).filter(Boolean);
  if (!statement && !questions.length) return null;
  const body = h("div", { class: "answer-body" });
  if (statement) body.append(h("div", { class: "markdown" }, renderMarkdown(statement)));
  if (questions.length && !state.turns.length) {
    body.append(h("div", { class: "suggestions" }, questions.map((q) => h("button", { type: "button",
      class: "chip", text: fillTemplate(q, values), onClick: () => actions.send(fillTemplate(q, values), []) }))));
  }
  return h("div", { class: "answer opening" }, h("div", { class: "avatar bot", "aria-hidden": "true" }, appIcon()),
    body);
}

function drawThread() {
  const thread = clear(elements.thread);
  const started = Boolean(state.conversationId || state.turns.length);
  if (!started) {
    const site = ctx.site;
    thread.append(h("section", { class: "welcome" },
      appIcon(true),
      h("h1", { text: site.title }),
      site.description ? h("p", { class: "description", text: site.description }) : null));
  }
  const form = inputsForm(api, fields, state.inputs, { readonly: started, onError: showError });
  if (form) {
    if (started) {
      thread.append(h("details", { class: "inputs-card inputs-summary" },
        h("summary", { text: "Conversation inputs" }), form));
    } else {
      thread.append(h("section", { class: "inputs-card" }, h("h2", { text: "Before you start" }), form));
    }
  }
  const opening = openingView(state.inputs);
  if (opening) thread.append(opening);
  for (const turn of state.turns) thread.append(turnView(turn, ctx));
  elements.title.textContent = currentTitle();
}

function currentTitle() {
  const conversation = sidebar && state.conversationId ? sidebar.find(state.conversationId) : null;
  return conversation ? conversation.name || "New conversation" : ctx.site.title;
}

async function loadHistory(conversationId) {
  const turns = [];
  let firstId = null;
  for (let page = 0; page < 20; page += 1) {
    const body = await api.get("messages", { conversation_id: conversationId, limit: 100, first_id: firstId });
    turns.unshift(...body.data.map(turnFromHistory));
    if (!body.has_more || !body.data.length) break;
    firstId = body.data[0].id;
  }
  return turns;
}

// --- actions -------------------------------------------------------------------------------------

const actions = {
  error: showError,

  async open(conversationId) {
    if (state.responding) actions.stop();
    closeDrawer();
    if (!conversationId) {
      actions.reset();
      return;
    }
    try {
      const turns = await loadHistory(conversationId);
      state.conversationId = conversationId;
      state.turns = turns;
      const known = sidebar ? sidebar.find(conversationId) : null;
      state.inputs = { ...((turns[0] && turns[0].inputs) || (known && known.inputs) || {}) };
      remember(conversationId);
      drawThread();
      if (sidebar) sidebar.render();
      scrollToEnd();
    } catch (error) {
      if (error.status === 404) {
        remember(null);
        actions.reset();
      } else showError(error.message);
    }
  },

  reset() {
    state.conversationId = null;
    state.turns = [];
    state.inputs = initialInputs(fields, urlInputs);
    remember(null);
    drawThread();
    if (sidebar) sidebar.render();
    closeDrawer();
    composer.focus();
  },

  async send(query, files) {
    if (state.responding) return;
    if (!state.conversationId) {
      const missing = missingRequired(fields, state.inputs);
      if (missing) {
        showError(`“${missing}” is required.`);
        return;
      }
    }
    for (const turn of state.turns) turn.suggestions = [];
    const turn = {
      id: null, query, files: files.map((f) => ({ type: f.type, url: f.preview || f.url, name: f.name })),
      answer: "", answerFiles: [], thoughts: [], citations: [], rating: null, error: null,
      streaming: true, suggestions: [],
    };
    const isNew = !state.conversationId;
    state.turns.push(turn);
    state.responding = true;
    composer.setResponding(true);
    drawThread();
    scrollToEnd();
    const controller = new AbortController();
    state.abort = controller;
    const body = {
      inputs: requestInputs(fields, state.inputs),
      query,
      files: files.map((f) => (f.url ? { type: f.type, transfer_method: "remote_url", url: f.url }
        : { type: f.type, transfer_method: "local_file", upload_file_id: f.id })),
      response_mode: "streaming",
      conversation_id: state.conversationId || "",
    };
    try {
      for await (const event of api.stream("chat-messages", body, controller.signal)) {
        handleEvent(event, turn);
      }
    } catch (error) {
      if (error.name !== "AbortError") turn.error = error.message;
    } finally {
      turn.streaming = false;
      state.responding = false;
      state.taskId = null;
      state.abort = null;
      composer.setResponding(false);
      redraw(turn, ctx);
    }
    if (isNew && state.conversationId) nameConversation(state.conversationId);
    if (turn.id && !turn.error) afterAnswer(turn);
  },

  async stop() {
    const { taskId, abort } = state;
    if (!state.responding) return;
    try {
      if (!taskId) throw new Error("no task yet");
      await api.post(`chat-messages/${taskId}/stop`);
    } catch {
      if (abort) abort.abort();
    }
  },

  ask(question) {
    actions.send(question, []);
  },

  async rate(turn, rating, content = null) {
    try {
      await api.post(`messages/${turn.id}/feedbacks`, { rating, content });
      turn.rating = rating;
    } catch (error) {
      showError(error.message);
    }
    redraw(turn, ctx);
  },

  async speak(turn) {
    if (audio) {
      const playing = audio;
      audio = null;
      playing.pause();
      playing.onended?.();
      if (playing.turn === turn) return;
    }
    try {
      const response = await api.send("POST", "text-to-audio", { json: { message_id: turn.id }, raw: true });
      const blob = await response.blob();
      if (!blob.size || (response.headers.get("content-type") || "").startsWith("application/json")) return;
      const player = new Audio(URL.createObjectURL(blob));
      player.turn = turn;
      player.onended = () => {
        turn.playing = false;
        if (audio === player) audio = null;
        redraw(turn, ctx);
      };
      audio = player;
      turn.playing = true;
      redraw(turn, ctx);
      await player.play().catch(() => {
        player.onended();
        showError("This browser could not play the answer's audio.");
      });
    } catch (error) {
      showError(error.message);
    }
  },

  renamed(conversation) {
    if (conversation.id === state.conversationId) elements.title.textContent = conversation.name;
  },

  deleted(conversationId) {
    if (conversationId === state.conversationId) actions.reset();
  },
};
ctx.actions = actions;

function handleEvent(event, turn) {
  if (event.conversation_id && !state.conversationId) {
    state.conversationId = event.conversation_id;
    remember(state.conversationId);
    if (sidebar) {
      sidebar.upsert({ id: state.conversationId, name: turn.query.slice(0, 60), inputs: body(state.inputs) });
    }
  }
  if (event.task_id) state.taskId = event.task_id;
  if (event.message_id) turn.id = event.message_id;
  switch (event.event) {
    case "message":
    case "agent_message":
      turn.answer += event.answer || "";
      break;
    case "message_replace":
      turn.answer = event.answer || "";
      break;
    case "agent_thought": {
      const index = turn.thoughts.findIndex((t) => t.id === event.id);
      if (index >= 0) turn.thoughts[index] = { ...turn.thoughts[index], ...event };
      else turn.thoughts.push(event);
      break;
    }
    case "message_file":
      turn.answerFiles.push({ type: event.type, url: event.url, belongs_to: event.belongs_to, name: "file" });
      break;
    case "message_end":
      turn.citations = (event.metadata && event.metadata.retriever_resources) || [];
      break;
    case "error":
      turn.error = event.message || "The answer failed.";
      break;
    case undefined:
      // a blocking answer
      if (typeof event.answer === "string") turn.answer = event.answer;
      if (event.id) turn.id = event.id;
      turn.citations = (event.metadata && event.metadata.retriever_resources) || [];
      break;
    default:
      break;
  }
  schedule(turn);
}

function body(values) {
  return requestInputs(fields, values);
}

async function nameConversation(conversationId) {
  try {
    const named = await api.post(`conversations/${conversationId}/name`, { auto_generate: true });
    if (sidebar) sidebar.upsert(named);
    if (conversationId === state.conversationId) elements.title.textContent = named.name;
  } catch {
    // the conversation keeps its first name
  }
}

async function afterAnswer(turn) {
  const followUps = ctx.parameters.suggested_questions_after_answer;
  if (followUps && followUps.enabled) {
    try {
      const found = await api.get(`messages/${turn.id}/suggested-questions`);
      if (state.turns[state.turns.length - 1] === turn) {
        turn.suggestions = found.data || [];
        redraw(turn, ctx);
        if (nearBottom()) scrollToEnd();
      }
    } catch {
      // no follow-up questions this time
    }
  }
  const speech = ctx.parameters.text_to_speech;
  if (speech && speech.enabled && speech.autoPlay === "enabled") actions.speak(turn);
}

// --- layout --------------------------------------------------------------------------------------

function closeDrawer() {
  elements.app?.classList.remove("drawer-open");
}

function footer() {
  const site = ctx.site;
  const parts = [];
  if (site.custom_disclaimer) parts.push(h("span", { text: site.custom_disclaimer }));
  if (site.copyright) parts.push(h("span", { text: `© ${site.copyright}` }));
  const privacy = safeHref(site.privacy_policy);
  if (privacy) {
    parts.push(h("a", { href: privacy, target: "_blank", rel: "noopener noreferrer", text: "Privacy policy" }));
  }
  return parts.length ? h("footer", { class: "page-footer" }, parts) : null;
}

function layout() {
  const site = ctx.site;
  elements.title = h("h1", { class: "topbar-title", text: site.title });
  elements.thread = h("div", { class: "thread" });
  elements.scroller = h("div", { class: "scroller" }, elements.thread);
  elements.toast = h("div", { class: "toast", role: "alert", hidden: true });
  composer = new Composer(ctx);
  const topbar = h("header", { class: "topbar" });
  if (mode === "chat") {
    topbar.append(iconButton("menu", "Conversations", () => elements.app.classList.toggle("drawer-open"),
      { class: "icon-button drawer-toggle" }));
  } else {
    topbar.append(appIcon());
  }
  topbar.append(elements.title, h("span", { class: "topbar-gap" }));
  if (mode === "chatbot") {
    topbar.append(iconButton("refresh", "New conversation", () => actions.reset()));
    elements.expand = iconButton("expand", "Expand", () => {
      window.parent.postMessage({ type: "dify-chatbot-expand-change" }, "*");
    }, { class: "icon-button expand", hidden: true });
    topbar.append(elements.expand);
  }
  topbar.append(themeButton);
  const main = h("main", { class: "main" }, topbar, elements.scroller,
    h("div", { class: "composer-wrap" }, elements.toast, composer.form, footer()));
  const app = h("div", { class: `app mode-${mode}` });
  if (mode === "chat") {
    sidebar = new Sidebar(ctx);
    const aside = h("aside", { class: "sidebar", "aria-label": "Conversations" },
      h("div", { class: "sidebar-head" }, appIcon(), h("span", { class: "sidebar-title", text: site.title })),
      h("button", { type: "button", class: "button primary new-chat", onClick: () => actions.reset() },
        icon("plus"), h("span", { text: "New chat" })),
      sidebar.list);
    app.append(aside, h("div", { class: "backdrop", onClick: closeDrawer }));
  }
  app.append(main);
  elements.app = app;
  return app;
}

function applyAccent() {
  const color = ctx.site.chat_color_theme;
  if (color && CSS.supports("color", color)) {
    root.style.setProperty("--accent", color);
    if (ctx.site.chat_color_theme_inverted) root.style.setProperty("--on-accent", "#111");
  }
}

function listenToEmbedder() {
  if (mode !== "chatbot" || !framed) return;
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data || event.data.type !== "dify-chatbot-config") return;
    const payload = event.data.payload || {};
    if (elements.expand) elements.expand.hidden = !payload.isToggledByButton;
  });
  window.parent.postMessage({ type: "dify-chatbot-iframe-ready" }, "*");
}

function fatal(message) {
  const mount = document.getElementById("app");
  mount.removeAttribute("aria-busy");
  mount.replaceChildren(h("main", { class: "unavailable" }, h("h1", { text: "App unavailable" }),
    h("p", { text: message })));
}

async function start() {
  const { inputs, system } = await readUrl();
  urlInputs = inputs;
  if (system.user_id) userKey = system.user_id;
  await api.passport(system.user_id);
  const [site, parameters] = await Promise.all([api.get("site"), api.get("parameters")]);
  ctx.site = site.site;
  ctx.appId = site.app_id;
  ctx.parameters = parameters;
  fields = formFields(parameters);
  state.inputs = initialInputs(fields, urlInputs);
  document.title = ctx.site.title;
  applyAccent();
  const mount = document.getElementById("app");
  mount.replaceWith(layout());
  elements.app.id = "app";
  listenToEmbedder();
  drawThread();
  if (sidebar) {
    sidebar.render();
    sidebar.load().then(() => {
      elements.title.textContent = currentTitle();
    }).catch((error) => showError(error.message));
  }
  const wanted = system.conversation_id || remembered();
  if (wanted) await actions.open(wanted);
  composer.focus();
}

start().catch((error) => {
  fatal(error.status === 404 || error.status === 400 ? "This chat page does not exist or has been switched off."
    : `The page could not start: ${error.message}`);
});
