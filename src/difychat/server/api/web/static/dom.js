// Small DOM helpers. Every text reaches the page as a text node or an attribute value, never as
// HTML: nothing the model, the user or the server says can become markup.

const SVG = "http://www.w3.org/2000/svg";

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A link target from untrusted text: web and mail links, and paths on this server; anything else
// (javascript:, data:, vbscript:, ...) is refused.
export function safeHref(raw) {
  const text = String(raw || "").trim();
  if (!text) return null;
  if (/^(https?:|mailto:)/i.test(text)) return text;
  if (/^(\/(?!\/)|#|\.\.?\/)/.test(text)) return text;
  return null;
}

// An image source shown without asking: this server's own files, blobs and inline raster data.
// A remote image would tell its host whatever text a prompt injection put in its address.
export function safeImageSrc(raw) {
  const text = String(raw || "").trim();
  if (/^data:image\/(png|jpeg|gif|webp);base64,[a-z0-9+/=\s]+$/i.test(text)) return text;
  if (/^blob:/i.test(text)) return text;
  try {
    const url = new URL(text, location.href);
    if (url.origin === location.origin && /^https?:$/.test(url.protocol)) return url.href;
  } catch {
    return null;
  }
  return null;
}

// Icons drawn for this page: 24x24 strokes in the current text colour.
const PATHS = {
  menu: "M4 6h16M4 12h16M4 18h16",
  plus: "M12 5v14M5 12h14",
  send: "M4 12 20 4l-6 16-3-7-7-1z",
  stop: "M7 7h10v10H7z",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  check: "M5 12l5 5 9-10",
  like: "M7 11v9H4v-9h3zm0 0 4-7c1.6 0 2.6 1.2 2.1 3L12 10h6.2a2 2 0 0 1 2 2.4L19 18.4a2 2 0 0 1-2 1.6H7",
  dislike:
    "M17 13V4h3v9h-3zm0 0-4 7c-1.6 0-2.6-1.2-2.1-3L12 14H5.8a2 2 0 0 1-2-2.4L5 5.6A2 2 0 0 1 7 4h10",
  speaker: "M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M18.5 6.5a7.5 7.5 0 0 1 0 11",
  mic: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM5 11a7 7 0 0 0 14 0M12 18v3",
  clip: "M20 11.5 12 19.5a5 5 0 0 1-7-7l8.5-8.5a3.5 3.5 0 0 1 5 5L10 17.5a2 2 0 0 1-3-3L15 6.5",
  link: "M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1",
  pin: "M9 3h6l-1 6 4 4H6l4-4zM12 13v8",
  unpin: "M9 3h6l-1 6 4 4H6l4-4zM12 13v8M4 4l16 16",
  edit: "M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  sun: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM12 2v2M12 20v2M2 12h2M20 12h2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4",
  moon: "M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z",
  close: "M6 6l12 12M18 6 6 18",
  expand: "M4 10V4h6M20 14v6h-6M4 4l6 6M20 20l-6-6",
  chevron: "M6 9l6 6 6-6",
  file: "M6 3h8l4 4v14H6zM14 3v4h4",
  tool: "M14.5 6.5a4 4 0 0 0-5.3 5.3L4 17l3 3 5.2-5.2a4 4 0 0 0 5.3-5.3l-2.5 2.5-2.5-.5-.5-2.5z",
  book: "M4 5a2 2 0 0 1 2-2h13v16H6a2 2 0 0 0-2 2zM4 21V5M8 7h7",
  chat: "M4 5h16v11H9l-5 4z",
  refresh: "M20 12a8 8 0 1 1-2.3-5.7M20 4v4h-4",
};

export function icon(name, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name] || PATHS.chat);
  svg.append(path);
  if (!label) return svg;
  return [svg, h("span", { class: "sr-only", text: label })];
}

export function iconButton(name, label, onClick, extra = {}) {
  return h("button", { type: "button", class: "icon-button", title: label, "aria-label": label, onClick, ...extra },
    icon(name));
}

export function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = h("textarea", { class: "offscreen", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  try {
    document.execCommand("copy");
  } finally {
    area.remove();
  }
  return Promise.resolve();
}

// A modal question with the page's own look; resolves true (confirmed) or false.
export function confirmDialog(message, confirmLabel = "Delete") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog" },
      h("form", { method: "dialog" },
        h("p", { text: message }),
        h("div", { class: "dialog-actions" },
          h("button", { value: "cancel", class: "button", text: "Cancel" }),
          h("button", { value: "ok", class: "button danger", text: confirmLabel }))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A modal single-line prompt; resolves the text, or null when cancelled.
export function promptDialog(message, placeholder = "", value = "") {
  return new Promise((resolve) => {
    const input = h("input", { class: "input", type: "text", placeholder, value });
    const dialog = h("dialog", { class: "dialog" },
      h("form", { method: "dialog" },
        h("label", {}, h("span", { class: "dialog-label", text: message }), input),
        h("div", { class: "dialog-actions" },
          h("button", { value: "cancel", class: "button", formnovalidate: true, text: "Cancel" }),
          h("button", { value: "ok", class: "button primary", text: "OK" }))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? input.value.trim() : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
