// The HTTP API (docs/protocol.md) with the bearer token; errors become AppError(code).
import { AppError } from "./errors.js";

let token = null;

export function setToken(value) {
  token = value;
}

export function getToken() {
  return token;
}

async function call(method, path, body, { auth = true } = {}) {
  const headers = {};
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new AppError("network", `${method} ${path}: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data && data.error;
    throw new AppError(
      (err && err.code) || `http_${response.status}`,
      (err && err.message) || `${method} ${path}: ${response.status}`,
      response.status,
    );
  }
  return data;
}

export const api = {
  get: (path, opts) => call("GET", path, undefined, opts),
  post: (path, body = {}, opts) => call("POST", path, body, opts),
  patch: (path, body = {}, opts) => call("PATCH", path, body, opts),
  put: (path, opts) => call("PUT", path, undefined, opts),
  del: (path, opts) => call("DELETE", path, undefined, opts),
};

// A protected file (a post's photo or video) as an object URL: media elements cannot send
// the bearer token themselves. The caller revokes it with URL.revokeObjectURL when done.
export async function blobUrl(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let response;
  try {
    response = await fetch(path, { headers });
  } catch (error) {
    throw new AppError("network", `GET ${path}: ${error.message}`);
  }
  if (!response.ok) throw new AppError(`http_${response.status}`, `GET ${path}: ${response.status}`, response.status);
  return URL.createObjectURL(await response.blob());
}

// Sends a file as the request body (a post's photo or video), with its own content type.
export async function upload(path, file) {
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: file });
  } catch (error) {
    throw new AppError("network", `POST ${path}: ${error.message}`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const err = data && data.error;
    throw new AppError((err && err.code) || `http_${response.status}`, (err && err.message) || "", response.status);
  }
  return data;
}

export const enc = encodeURIComponent;

// Every page of a paged list (`{<key>: [...], next_cursor}`), up to `max` items.
export async function all(path, key, max = 1000) {
  const out = [];
  let cursor = "";
  while (out.length < max) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api.get(`${path}${sep}limit=200${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    out.push(...page[key]);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}
