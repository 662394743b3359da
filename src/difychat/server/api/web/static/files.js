// What an app lets its users attach (its file_upload feature, or an input field's own rules), and
// uploads through /api/files/upload.

const EXTENSIONS = {
  image: ["jpg", "jpeg", "png", "webp", "gif", "svg"],
  video: ["mp4", "mov", "mpeg", "webm"],
  audio: ["mp3", "m4a", "wav", "amr", "mpga"],
  document: ["txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv", "vtt",
    "properties"],
};

export function extensionOf(name) {
  const dot = String(name || "").lastIndexOf(".");
  return dot >= 0 ? name.slice(dot + 1).toLowerCase() : "";
}

function kindOf(extension, mime) {
  for (const [kind, list] of Object.entries(EXTENSIONS)) if (list.includes(extension)) return kind;
  const major = String(mime || "").split("/")[0];
  return ["image", "video", "audio"].includes(major) ? major : "custom";
}

// The rules of the app's file_upload feature ({enabled: false} when it allows nothing).
export function appRules(feature) {
  if (!feature) return { enabled: false };
  if (feature.enabled) {
    return rules(feature.allowed_file_types, feature.allowed_file_extensions,
      feature.allowed_file_upload_methods, feature.number_limits);
  }
  if (feature.image && feature.image.enabled) {
    return rules(["image"], [], feature.image.transfer_methods, feature.image.number_limits);
  }
  return { enabled: false };
}

export function fieldRules(field, single) {
  return rules(field.allowed_file_types, field.allowed_file_extensions, field.allowed_file_upload_methods,
    single ? 1 : field.max_length || 5);
}

function rules(types, extensions, methods, limit) {
  const allowedTypes = (types && types.length) ? types : ["image", "document", "audio", "video", "custom"];
  const custom = (extensions || []).map((ext) => String(ext).replace(/^\./, "").toLowerCase());
  const allowedMethods = (methods && methods.length) ? methods : ["local_file", "remote_url"];
  const accept = [];
  for (const type of allowedTypes) {
    if (type === "custom") accept.push(...custom);
    else accept.push(...(EXTENSIONS[type] || []));
  }
  return {
    enabled: true,
    types: allowedTypes,
    extensions: custom,
    local: allowedMethods.includes("local_file"),
    remote: allowedMethods.includes("remote_url"),
    limit: Math.max(1, Number(limit) || 1),
    accept: allowedTypes.includes("custom") && !custom.length ? "" : accept.map((ext) => `.${ext}`).join(","),
  };
}

// The file's type for a chat request, or null if the rules do not allow it.
export function typeFor(rules, name, mime) {
  const extension = extensionOf(name);
  const kind = kindOf(extension, mime);
  if (rules.types.includes(kind) && kind !== "custom") return kind;
  if (rules.types.includes("custom") && (!rules.extensions.length || rules.extensions.includes(extension))) {
    return "custom";
  }
  return null;
}

export async function upload(api, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return api.upload("files/upload", form);
}

// A chat request's (or an input's) description of an attachment.
export function requestFile(item) {
  if (item.url) return { type: item.type, transfer_method: "remote_url", url: item.url };
  return { type: item.type, transfer_method: "local_file", upload_file_id: item.id };
}
