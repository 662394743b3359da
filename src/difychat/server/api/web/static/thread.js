// One conversation on screen: each turn (the question, its files, the answer with its tool steps,
// citations and files) and what can be done with an answer (copy, rate, listen, follow-ups).

import { copyText, h, icon, iconButton, safeHref } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

// A turn from the history (GET /api/messages).
export function turnFromHistory(message) {
  const files = message.message_files || [];
  return {
    id: message.id,
    query: message.query,
    inputs: message.inputs,
    files: files.filter((f) => f.belongs_to !== "assistant"),
    answer: message.answer || "",
    answerFiles: files.filter((f) => f.belongs_to === "assistant"),
    thoughts: message.agent_thoughts || [],
    citations: message.retriever_resources || [],
    rating: message.feedback ? message.feedback.rating : null,
    error: message.status === "error" ? (message.error || "The answer failed.") : null,
    streaming: false,
    suggestions: [],
  };
}

export function turnView(turn, ctx) {
  const el = h("article", { class: "turn", dataset: { id: turn.id || "" } },
    h("div", { class: "question" },
      filesView(turn.files, "user"),
      h("div", { class: "bubble", text: turn.query })),
    answerView(turn, ctx));
  turn.el = el;
  return el;
}

export function redraw(turn, ctx) {
  if (turn.el && turn.el.isConnected) turn.el.replaceWith(turnView(turn, ctx));
}

function avatar(ctx) {
  const site = ctx.site;
  if (site.use_icon_as_answer_icon && site.icon_type === "emoji" && site.icon) {
    const el = h("div", { class: "avatar", "aria-hidden": "true", text: site.icon });
    if (site.icon_background) el.style.background = site.icon_background;
    return el;
  }
  return h("div", { class: "avatar bot", "aria-hidden": "true" }, icon("chat"));
}

function answerView(turn, ctx) {
  const body = h("div", { class: "answer-body" });
  const steps = thoughtsView(turn.thoughts);
  if (steps) body.append(steps);
  const text = h("div", { class: "markdown" });
  text.append(renderMarkdown(turn.answer));
  if (turn.streaming) {
    text.append(h("span", { class: "cursor", "aria-hidden": "true" }));
    if (!turn.answer && !turn.thoughts.length) text.append(h("span", { class: "thinking", text: "Thinking…" }));
  }
  body.append(text);
  const files = filesView(turn.answerFiles, "assistant");
  if (files) body.append(files);
  if (turn.error) body.append(h("p", { class: "answer-error", role: "alert", text: turn.error }));
  const citations = ctx.parameters.retriever_resource?.enabled !== false ? citationsView(turn.citations) : null;
  if (citations) body.append(citations);
  if (!turn.streaming && turn.id) body.append(operations(turn, ctx));
  if (turn.suggestions && turn.suggestions.length) {
    body.append(h("div", { class: "suggestions", "aria-label": "Suggested questions" },
      turn.suggestions.map((q) => h("button", { type: "button", class: "chip", text: q,
        onClick: () => ctx.actions.ask(q) }))));
  }
  return h("div", { class: "answer", "aria-live": turn.streaming ? "polite" : null }, avatar(ctx), body);
}

function operations(turn, ctx) {
  const bar = h("div", { class: "answer-ops" });
  const copy = iconButton("copy", "Copy", () => {
    copyText(turn.answer).then(() => {
      copy.replaceChildren(icon("check"));
      setTimeout(() => copy.replaceChildren(icon("copy")), 1200);
    });
  });
  bar.append(copy);
  if (ctx.parameters.text_to_speech?.enabled) {
    bar.append(iconButton("speaker", turn.playing ? "Stop reading" : "Read aloud",
      () => ctx.actions.speak(turn), { class: `icon-button${turn.playing ? " active" : ""}` }));
  }
  bar.append(h("span", { class: "ops-gap" }));
  bar.append(iconButton("like", turn.rating === "like" ? "Remove like" : "Like",
    () => ctx.actions.rate(turn, turn.rating === "like" ? null : "like"),
    { class: `icon-button${turn.rating === "like" ? " active" : ""}`, "aria-pressed": String(turn.rating === "like") }));
  bar.append(iconButton("dislike", turn.rating === "dislike" ? "Remove dislike" : "Dislike",
    () => {
      if (turn.rating === "dislike") ctx.actions.rate(turn, null);
      else {
        turn.feedbackOpen = !turn.feedbackOpen;
        redraw(turn, ctx);
      }
    },
    { class: `icon-button${turn.rating === "dislike" ? " active" : ""}`,
      "aria-pressed": String(turn.rating === "dislike") }));
  if (!turn.feedbackOpen) return bar;
  const text = h("textarea", { class: "input", rows: 2, placeholder: "What was wrong with this answer? (optional)",
    "aria-label": "Feedback" });
  const form = h("form", { class: "feedback-form" }, text,
    h("div", { class: "feedback-actions" },
      h("button", { type: "button", class: "button", text: "Cancel", onClick: () => {
        turn.feedbackOpen = false;
        redraw(turn, ctx);
      } }),
      h("button", { type: "submit", class: "button primary", text: "Send feedback" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    turn.feedbackOpen = false;
    ctx.actions.rate(turn, "dislike", text.value.trim() || null);
  });
  setTimeout(() => text.focus());
  return h("div", {}, bar, form);
}

function toolLabel(thought, name) {
  const labels = thought.tool_labels && thought.tool_labels[name];
  if (labels && typeof labels === "object") return labels.en_US || Object.values(labels)[0] || name;
  return name;
}

// An agent round's input and output name each tool it called: {"tool": value, ...}.
function perTool(value, names) {
  let parsed = null;
  try {
    parsed = typeof value === "string" ? JSON.parse(value) : value;
  } catch {
    parsed = null;
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && names.every((n) => n in parsed)) {
    return names.map((n) => parsed[n]);
  }
  return names.map(() => value);
}

function pretty(value) {
  if (value === undefined || value === null || value === "") return "";
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function thoughtsView(thoughts) {
  const steps = [];
  for (const thought of thoughts || []) {
    const names = String(thought.tool || "").split(";").map((n) => n.trim()).filter(Boolean);
    const inputs = perTool(thought.tool_input, names);
    const outputs = perTool(thought.observation, names);
    names.forEach((name, index) => {
      const running = !thought.observation;
      steps.push(h("details", { class: "tool-step" },
        h("summary", {}, icon("tool"),
          h("span", { text: `${running ? "Using" : "Used"} ${toolLabel(thought, name)}` })),
        h("div", { class: "tool-io" },
          h("div", { class: "io-label", text: "Input" }),
          h("pre", { text: pretty(inputs[index]) || "—" }),
          h("div", { class: "io-label", text: "Output" }),
          h("pre", { text: pretty(outputs[index]) || (running ? "…" : "—") }))));
    });
  }
  return steps.length ? h("div", { class: "tool-steps" }, steps) : null;
}

function citationsView(resources) {
  if (!resources || !resources.length) return null;
  const byDocument = new Map();
  for (const item of resources) {
    const name = item.document_name || item.dataset_name || "Source";
    if (!byDocument.has(name)) byDocument.set(name, []);
    byDocument.get(name).push(item);
  }
  return h("details", { class: "citations" },
    h("summary", {}, icon("book"), h("span", { text: `Citations (${byDocument.size})` })),
    h("ol", {}, [...byDocument].map(([name, items]) => h("li", { class: "citation" },
      h("div", { class: "citation-name", text: name }),
      items.map((item) => h("blockquote", { class: "citation-segment" },
        h("p", { text: item.content || "" }),
        typeof item.score === "number"
          ? h("span", { class: "score", text: `score ${item.score.toFixed(2)}` }) : null))))));
}

function filesView(files, side) {
  if (!files || !files.length) return null;
  return h("div", { class: `message-files ${side}` }, files.map((file) => {
    const href = safeHref(file.url) || (String(file.url || "").startsWith("blob:") ? file.url : null);
    if (file.type === "image" && href) {
      return h("a", { href, target: "_blank", rel: "noopener noreferrer" },
        h("img", { src: href, alt: file.filename || file.name || "image", class: "message-image",
          loading: "lazy" }));
    }
    return h("a", href ? { href, target: "_blank", rel: "noopener noreferrer", class: "file-chip" }
      : { class: "file-chip" }, icon("file"), h("span", { text: file.filename || file.name || "file" }));
  }));
}
