// The app's input form (user_input_form): filled before the first message of a conversation,
// shown read-only once the conversation has started.

import { h, iconButton } from "./dom.js";
import { fieldRules, requestFile, typeFor, upload } from "./files.js";

const KINDS = ["text-input", "paragraph", "select", "number", "checkbox", "file", "file-list"];

export function formFields(parameters) {
  const fields = [];
  for (const entry of parameters.user_input_form || []) {
    const [kind, body] = Object.entries(entry)[0] || [];
    if (!KINDS.includes(kind) || !body || !body.variable) continue;
    fields.push({ kind, ...body, label: body.label || body.variable });
  }
  return fields;
}

// Values from the defaults, then from the page's URL (?name=Ann).
export function initialInputs(fields, fromUrl) {
  const values = {};
  for (const field of fields) {
    let value = fromUrl[field.variable];
    if (value === undefined) value = field.default;
    if (value === undefined || value === null || value === "") continue;
    if (field.kind === "number") value = Number(value);
    else if (field.kind === "checkbox") value = value === true || value === "true" || value === "1";
    else if (field.kind === "select" && !(field.options || []).includes(value)) continue;
    else if (field.kind === "file" || field.kind === "file-list") continue;
    values[field.variable] = value;
  }
  return values;
}

export function missingRequired(fields, values) {
  for (const field of fields) {
    if (!field.required) continue;
    const value = values[field.variable];
    const empty = value === undefined || value === null || value === ""
      || (Array.isArray(value) && !value.length) || (field.kind === "checkbox" && !value);
    if (empty) return field.label;
  }
  return null;
}

export function inputsForm(api, fields, values, { readonly, onError }) {
  const shown = fields.filter((field) => !field.hide);
  if (!shown.length) return null;
  const form = h("form", { class: "inputs-form", onSubmit: (event) => event.preventDefault() });
  for (const field of shown) {
    const id = `input-${field.variable}`;
    const label = h("label", { for: id, class: "field-label" }, field.label,
      field.required ? h("span", { class: "required", "aria-hidden": "true", text: "*" }) : null);
    form.append(h("div", { class: `field field-${field.kind}` },
      field.kind === "checkbox" ? null : label,
      control(api, field, id, values, readonly, onError),
      field.kind === "checkbox" ? label : null));
  }
  return form;
}

function control(api, field, id, values, readonly, onError) {
  const value = values[field.variable];
  const set = (next) => {
    if (next === "" || next === undefined || (Array.isArray(next) && !next.length)) delete values[field.variable];
    else values[field.variable] = next;
  };
  const common = { id, name: field.variable, disabled: readonly, required: field.required };
  switch (field.kind) {
    case "paragraph":
      return h("textarea", { ...common, class: "input", rows: 3, maxlength: field.max_length || null,
        placeholder: field.placeholder || null, value: value ?? "", onInput: (e) => set(e.target.value) });
    case "select":
      return h("select", { ...common, class: "input", onChange: (e) => set(e.target.value) },
        h("option", { value: "", text: "Choose…" }),
        (field.options || []).map((option) => h("option", { value: option, text: option,
          selected: option === value })));
    case "number":
      return h("input", { ...common, class: "input", type: "number", value: value ?? "",
        onInput: (e) => set(e.target.value === "" ? "" : Number(e.target.value)) });
    case "checkbox":
      return h("input", { ...common, type: "checkbox", checked: Boolean(value),
        onChange: (e) => set(e.target.checked) });
    case "file":
    case "file-list":
      return fileControl(api, field, common, values, readonly, onError);
    default:
      return h("input", { ...common, class: "input", type: "text", maxlength: field.max_length || null,
        placeholder: field.placeholder || null, value: value ?? "", onInput: (e) => set(e.target.value) });
  }
}

function fileControl(api, field, common, values, readonly, onError) {
  const single = field.kind === "file";
  const rules = fieldRules(field, single);
  const list = h("ul", { class: "file-chips" });
  const current = () => {
    const value = values[field.variable];
    return value ? (Array.isArray(value) ? value : [value]) : [];
  };
  const draw = () => {
    list.replaceChildren(...current().map((item, index) => h("li", { class: "file-chip" },
      h("span", { text: item.name || item.url || "file" }),
      readonly ? null : iconButton("close", "Remove", () => {
        const next = current().filter((_, i) => i !== index);
        values[field.variable] = single ? next[0] : next;
        if (!next.length) delete values[field.variable];
        draw();
      }))));
  };
  const picker = h("input", { ...common, type: "file", class: "file-input", accept: rules.accept || null,
    multiple: !single });
  picker.addEventListener("change", async () => {
    for (const file of picker.files) {
      const type = typeFor(rules, file.name, file.type);
      if (!type) {
        onError(`${file.name}: this kind of file is not accepted here.`);
        continue;
      }
      try {
        const record = await upload(api, file);
        const item = { ...requestFile({ type, id: record.id }), name: record.name };
        values[field.variable] = single ? item : [...current(), item].slice(0, rules.limit);
      } catch (error) {
        onError(error.message);
      }
    }
    picker.value = "";
    draw();
  });
  draw();
  return h("div", { class: "file-field" }, readonly ? null : picker, list);
}

// The opening statement with {{variable}} replaced by the form's values.
export function fillTemplate(text, values) {
  return String(text || "").replace(/\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g, (_, name) => {
    const value = values[name];
    return value === undefined || value === null || typeof value === "object" ? "" : String(value);
  });
}

// The form's values as a chat request sends them (file values without the names shown here).
export function requestInputs(fields, values) {
  const out = { ...values };
  for (const field of fields) {
    const value = out[field.variable];
    if (value === undefined || (field.kind !== "file" && field.kind !== "file-list")) continue;
    const strip = ({ name: _name, ...rest }) => rest;
    out[field.variable] = Array.isArray(value) ? value.map(strip) : strip(value);
  }
  return out;
}
