// A small Markdown renderer that builds DOM nodes and never parses HTML: any markup in the text
// (a <script>, an <img onerror>) is shown as the text it is. It covers what chat answers use:
// headings, paragraphs with soft line breaks, emphasis, strikethrough, inline code, fenced code,
// block quotes, nested lists (task items too), tables, rules, links and images (checked by dom.js).
// An unterminated code fence (an answer still streaming) runs to the end of the text.

import { copyText, h, icon, safeHref, safeImageSrc } from "./dom.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(\s+|$)(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  for (const node of blocks(lines, 0)) fragment.append(node);
  return fragment;
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let match;
    if ((match = FENCE.exec(line))) {
      const marker = match[1];
      const body = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`).test(lines[i])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or past the end)
      out.push(codeBlock(body.join("\n"), match[2]));
    } else if ((match = HEADING.exec(line))) {
      out.push(h(`h${match[1].length}`, {}, inline(match[2] || "")));
      i += 1;
    } else if (RULE.test(line)) {
      out.push(h("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) {
        inner.push(QUOTE.exec(lines[i])[1]);
        i += 1;
      }
      out.push(h("blockquote", {}, depth < 8 ? blocks(inner, depth + 1) : inline(inner.join("\n"))));
    } else if (ITEM.test(line)) {
      const [list, next] = listBlock(lines, i, depth);
      out.push(list);
      i = next;
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])
      && lines[i + 1].includes("-")) {
      const [table, next] = tableBlock(lines, i);
      out.push(table);
      i = next;
    } else {
      const text = [];
      while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) {
        text.push(lines[i].trim());
        i += 1;
      }
      if (!text.length) {
        text.push(lines[i].trim());
        i += 1;
      }
      out.push(h("p", {}, inline(text.join("\n"))));
    }
  }
  return out;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || QUOTE.test(line) || RULE.test(line)
    || ITEM.test(line) || (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])
      && lines[i + 1].includes("-"));
}

function codeBlock(text, language) {
  const lang = (language || "").replace(/[^\w+#.-]/g, "").slice(0, 32);
  const code = h("code", lang ? { class: `language-${lang}` } : {});
  code.textContent = text;
  const copy = h("button", { type: "button", class: "code-copy", title: "Copy code", "aria-label": "Copy code" },
    icon("copy"));
  copy.addEventListener("click", () => {
    copyText(text).then(() => {
      copy.classList.add("done");
      setTimeout(() => copy.classList.remove("done"), 1200);
    });
  });
  return h("div", { class: "code-block" },
    h("div", { class: "code-head" }, h("span", { text: lang || "text" }), copy),
    h("pre", {}, code));
}

function listBlock(lines, start, depth) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = h(ordered ? "ol" : "ul");
  if (ordered) {
    const number = parseInt(first[2], 10);
    if (number !== 1) list.setAttribute("start", String(number));
  }
  let i = start;
  while (i < lines.length) {
    const match = ITEM.exec(lines[i]);
    if (!match || match[1].length !== indent || /\d/.test(match[2]) !== ordered) break;
    const width = match[1].length + match[2].length + Math.max(1, Math.min(match[3].length, 4));
    const body = [match[4]];
    i += 1;
    while (i < lines.length) {
      const line = lines[i];
      const next = ITEM.exec(line);
      if (next && next[1].length <= indent) break;
      if (!line.trim()) {
        // A blank line continues the item only if indented text follows it.
        if (i + 1 < lines.length && lines[i + 1].startsWith(" ".repeat(indent + 1))) {
          body.push("");
          i += 1;
          continue;
        }
        break;
      }
      if (!next && !line.startsWith(" ") && startsBlock(lines, i)) break;
      body.push(line.startsWith(" ".repeat(width)) ? line.slice(width) : line.trimStart());
      i += 1;
    }
    list.append(listItem(body, depth));
  }
  return [list, i];
}

function listItem(body, depth) {
  const item = h("li");
  const task = /^\[([ xX])\]\s+/.exec(body[0]);
  if (task) {
    body[0] = body[0].slice(task[0].length);
    item.classList.add("task");
    item.append(h("input", { type: "checkbox", disabled: true, checked: task[1] !== " " }));
  }
  const nested = depth < 8 ? blocks(body, depth + 1) : [h("p", {}, inline(body.join("\n")))];
  // A tight item's lone paragraph is shown as plain text.
  if (nested.length && nested[0].tagName === "P" && !body.includes("")) {
    item.append(...nested[0].childNodes);
    nested.shift();
  }
  item.append(...nested);
  return item;
}

function cells(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  const found = [];
  let current = "";
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === "\\" && text[i + 1] === "|") {
      current += "|";
      i += 1;
    } else if (text[i] === "|") {
      found.push(current.trim());
      current = "";
    } else current += text[i];
  }
  found.push(current.trim());
  return found;
}

function tableBlock(lines, start) {
  const head = cells(lines[start]);
  const aligns = cells(lines[start + 1]).map((rule) => {
    if (rule.startsWith(":") && rule.endsWith(":")) return "center";
    if (rule.endsWith(":")) return "right";
    return rule.startsWith(":") ? "left" : null;
  });
  const cell = (tag, text, column) => {
    const el = h(tag, {}, inline(text));
    if (aligns[column]) el.style.textAlign = aligns[column];
    return el;
  };
  const thead = h("thead", {}, h("tr", {}, head.map((text, c) => cell("th", text, c))));
  const tbody = h("tbody");
  let i = start + 2;
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
    const row = cells(lines[i]);
    tbody.append(h("tr", {}, head.map((_, c) => cell("td", row[c] || "", c))));
    i += 1;
  }
  return [h("div", { class: "table-wrap" }, h("table", {}, thead, tbody)), i];
}

// --- inline -------------------------------------------------------------------------------------

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/;

export function inline(text, depth = 0) {
  const nodes = [];
  let plain = "";
  const flush = () => {
    if (plain) nodes.push(...withBreaks(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const rest = text.slice(i);
    let match;
    if (ch === "\\" && PUNCTUATION.test(text[i + 1] || "")) {
      plain += text[i + 1];
      i += 2;
    } else if (ch === "\\" && text[i + 1] === "\n") {
      flush();
      nodes.push(h("br"));
      i += 2;
    } else if (ch === "`" && (match = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest))) {
      flush();
      const code = h("code");
      const body = match[2].replace(/\n/g, " ");
      code.textContent = /^ .* $/.test(body) ? body.slice(1, -1) : body;
      nodes.push(code);
      i += match[0].length;
    } else if ((ch === "!" || ch === "[") && (match = linkAt(text, i))) {
      flush();
      nodes.push(match.node(depth));
      i = match.end;
    } else if (ch === "<" && (match = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i.exec(rest))) {
      flush();
      nodes.push(link(match[1], [document.createTextNode(match[1])]));
      i += match[0].length;
    } else if ((ch === "h" || ch === "H") && /[\s(]|^$/.test(text[i - 1] || "")
      && (match = /^https?:\/\/[^\s<>"]+/i.exec(rest))) {
      flush();
      const url = match[0].replace(/[.,:;!?)'"]+$/, "");
      nodes.push(link(url, [document.createTextNode(url)]));
      i += url.length;
    } else if ((match = emphasisAt(text, i)) && depth < 16) {
      flush();
      nodes.push(h(match.tag, {}, inline(match.inner, depth + 1)));
      i = match.end;
    } else {
      plain += ch;
      i += 1;
    }
  }
  flush();
  return nodes;
}

function withBreaks(text) {
  const nodes = [];
  text.split("\n").forEach((part, index) => {
    if (index) nodes.push(h("br"));
    if (part) nodes.push(document.createTextNode(part.replace(/ {2,}$/, "")));
  });
  return nodes;
}

function emphasisAt(text, i) {
  const rest = text.slice(i);
  for (const [marker, tag] of [["**", "strong"], ["__", "strong"], ["~~", "del"], ["*", "em"], ["_", "em"]]) {
    if (!rest.startsWith(marker)) continue;
    const after = text[i + marker.length] || "";
    if (!after || /\s/.test(after)) continue;
    // Underscores inside words (snake_case) are not emphasis.
    if (marker[0] === "_" && /\w/.test(text[i - 1] || "")) continue;
    let from = i + marker.length + 1;
    while (from <= text.length) {
      const close = text.indexOf(marker, from);
      if (close < 0) break;
      const before = text[close - 1];
      const beyond = text[close + marker.length] || "";
      const single = marker.length === 1 && beyond === marker;
      if (!/\s/.test(before) && !single && !(marker[0] === "_" && /\w/.test(beyond))) {
        return { tag, inner: text.slice(i + marker.length, close), end: close + marker.length };
      }
      from = close + (single ? 2 : 1);
    }
  }
  return null;
}

function linkAt(text, i) {
  const image = text[i] === "!";
  const open = image ? i + 1 : i;
  if (text[open] !== "[") return null;
  let level = 0;
  let close = -1;
  for (let j = open; j < text.length; j += 1) {
    if (text[j] === "\\") {
      j += 1;
    } else if (text[j] === "[") level += 1;
    else if (text[j] === "]") {
      level -= 1;
      if (level === 0) {
        close = j;
        break;
      }
    }
  }
  if (close < 0 || text[close + 1] !== "(") return null;
  let level2 = 0;
  let end = -1;
  for (let j = close + 1; j < text.length; j += 1) {
    if (text[j] === "(") level2 += 1;
    else if (text[j] === ")") {
      level2 -= 1;
      if (level2 === 0) {
        end = j;
        break;
      }
    } else if (text[j] === "\n") return null;
  }
  if (end < 0) return null;
  const label = text.slice(open + 1, close);
  const target = text.slice(close + 2, end).trim();
  const url = target.replace(/^<(.*)>$/, "$1").replace(/\s+(".*"|'.*')$/, "");
  return {
    end: end + 1,
    node(depth) {
      if (image) return picture(url, label);
      return link(url, inline(label, depth + 1));
    },
  };
}

function link(url, children) {
  const href = safeHref(url);
  if (!href) return h("span", { class: "unsafe-link" }, children);
  const external = /^(https?:|mailto:)/i.test(href);
  return h("a", external ? { href, target: "_blank", rel: "noopener noreferrer nofollow" } : { href }, children);
}

function picture(url, alt) {
  const src = safeImageSrc(url);
  if (src) return h("img", { src, alt, loading: "lazy", class: "md-image" });
  // Not loaded without a click: a remote image could carry the conversation to its host.
  return link(url, [`🖼 ${alt || "image"}`]);
}
