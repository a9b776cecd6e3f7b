// Latent's HTTP API as the page uses it: the Bearer key from localStorage on every call, errors turned into
// sentences, and Server-Sent Events read through fetch (EventSource cannot send an Authorization header).

const KEY_STORAGE = "latent.apiKey";

export function apiKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

export function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch { /* private mode: the key lives for this page only */ }
}

/** An API failure with the HTTP status and a message meant for people. */
export class ApiError extends Error {
  constructor(status, message, { retryAfter = null, route = "" } = {}) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
    this.route = route;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function serverMessage(response) {
  const text = await response.text().catch(() => "");
  if (!text) return "";
  try {
    const body = JSON.parse(text);
    if (body && body.error) return typeof body.error === "string" ? body.error : body.error.message || "";
    if (body && body.detail) return String(body.detail);
    if (body && body.message) return String(body.message);
  } catch { /* not JSON */ }
  return text.slice(0, 300);
}

/** Explains a failed response in words; the server's own message is kept because it names the limit. */
export function describe(status, message, { retryAfter, route } = {}) {
  const said = message ? `: ${message}` : "";
  switch (true) {
    case status === 0:
      return `Cannot reach the Latent server (${message || "network error"}). Is \`latent serve\` still running?`;
    case status === 401:
      return `The server needs a valid API key${said}. Enter it in the “API key” field at the top and press Save.`;
    case status === 403:
      return `This API key may not do that${said}.`;
    case status === 404 && (!message || /^not found\.?$/i.test(message)):
      return `This server has no ${route || "such"} route (404): the feature is not available on this server version.`;
    case status === 404:
      return `Not found${said}.`;
    case status === 409:
      return `Not possible right now${said}.`;
    case status === 410:
      return `The result has expired on the server${said}.`;
    case status === 413:
      return `The request is too large for the server${said}.`;
    case status === 422:
      return `The request is over a server limit${said}.`;
    case status === 429: {
      // The server's text already says "queue full" and when to retry; keep only the details between.
      const detail = (message || "").replace(/^queue full:\s*/i, "").replace(/;?\s*retry after \d+ s\.?$/i, "");
      const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again in a moment.";
      return `The server's queue is full${detail ? ` — ${detail}` : ""}.${wait}`;
    }
    case status === 400:
      return `The server rejected the request${said}.`;
    case status === 503:
      return `The server is not ready or is shutting down${said}.`;
    case status >= 500:
      return `The server failed (${status})${said}.`;
    default:
      return `Request failed (${status})${said}.`;
  }
}

/**
 * Calls the API. Resolves to parsed JSON (or the Response when `raw`), rejects with an ApiError whose
 * message is a full sentence.
 */
export async function request(method, path, { json, signal, raw = false } = {}) {
  const init = { method, headers: headers(json === undefined ? {} : { "Content-Type": "application/json" }), signal };
  if (json !== undefined) init.body = JSON.stringify(json);
  const route = `${method} ${path.split("?")[0]}`;
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, describe(0, error.message), { route });
  }
  if (!response.ok) {
    const retryAfter = response.headers.get("Retry-After");
    const message = await serverMessage(response);
    throw new ApiError(response.status, describe(response.status, message, { retryAfter, route }), { retryAfter, route });
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Downloads a protected resource as a Blob (an <img src> could not carry the key). */
export async function blob(path, signal) {
  const response = await request("GET", path, { raw: true, signal });
  return response.blob();
}

/**
 * Follows a job's event stream, calling `onEvent(name, data)` per event. Resolves when the stream ends.
 */
export async function followEvents(path, onEvent, signal) {
  const response = await request("GET", path, { raw: true, signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) continue;
      let payload;
      try { payload = JSON.parse(data.join("\n")); } catch { payload = data.join("\n"); }
      onEvent(name, payload);
    }
  }
}
