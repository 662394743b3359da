// The web API under /api, as the page calls it.
//
// Who the visitor is lives in an HttpOnly cookie the server sets (passport-<code>): the page never
// stores a credential. A page framed by another site (the embed bubble over plain HTTP) may get no
// cookie at all; it then sends the passport it was given as X-App-Passport, from memory only, for
// as long as the frame lives.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "";
  }
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}

export class Api {
  constructor(base, code, { framed }) {
    this.base = base;
    this.code = code;
    this.useHeader = framed;
    this.token = null;
    this.userId = null;
  }

  url(path, query) {
    const url = new URL(`api/${path}`, this.base);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
    }
    return url;
  }

  headers(extra) {
    const headers = { "X-App-Code": this.code, ...(extra || {}) };
    if (this.useHeader && this.token) headers["X-App-Passport"] = this.token;
    return headers;
  }

  async passport(userId) {
    this.userId = userId || null;
    const response = await fetch(this.url("passport", { user_id: userId }), {
      headers: { "X-App-Code": this.code },
      credentials: "same-origin",
    });
    const body = await readJson(response);
    if (!response.ok) throw new ApiError(response.status, body);
    this.token = body.access_token;
  }

  // One request; a passport refused while relying on the cookie is asked for again and the request
  // retried once with the passport in the header (cookies blocked in this context).
  async send(method, path, { query, json, form, signal, raw } = {}, retried = false) {
    const init = { method, headers: this.headers(), credentials: "same-origin", signal };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form) init.body = form;
    const response = await fetch(this.url(path, query), init);
    if (response.status === 401 && !retried) {
      await this.passport(this.userId);
      this.useHeader = true;
      return this.send(method, path, { query, json, form, signal, raw }, true);
    }
    if (raw && response.ok) return response;
    const body = response.status === 204 ? null : await readJson(response);
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  get(path, query) {
    return this.send("GET", path, { query });
  }

  post(path, json) {
    return this.send("POST", path, { json: json || {} });
  }

  patch(path) {
    return this.send("PATCH", path, { json: {} });
  }

  delete(path) {
    return this.send("DELETE", path, {});
  }

  upload(path, form) {
    return this.send("POST", path, { form });
  }

  // POST a streaming chat turn and yield its events (pings skipped) as they arrive.
  async *stream(path, json, signal) {
    const response = await this.send("POST", path, { json, signal, raw: true });
    const type = response.headers.get("content-type") || "";
    if (!type.startsWith("text/event-stream")) {
      yield await response.json(); // a blocking answer (an app that cannot stream)
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = frame.split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart()).join("\n");
        if (!data) continue;
        try {
          yield JSON.parse(data);
        } catch {
          // a frame that is not JSON is not an event of the contract
        }
      }
    }
  }
}
