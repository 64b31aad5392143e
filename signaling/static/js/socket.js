// The signaling socket /ws: authenticates with its first message, answers requests by id,
// dispatches events by type, and reconnects with exponential backoff (jittered), emitting
// "resumed" after each reconnection so pages refetch what they may have missed.
import { AppError } from "./errors.js";

const REQUEST_TIMEOUT_MS = 15000;
const MAX_BACKOFF_MS = 10000;

export class LiveSocket {
  constructor(token) {
    this.token = token;
    this.ws = null;
    this.status = "connecting"; // connecting | open | reconnecting | closed
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.waiters = [];
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
    this.setStatus("closed");
    this.failPending(new AppError("disconnected", "signed out"));
  }

  // Subscribe to a message type ("*" for all, "status", "resumed"); returns an unsubscribe.
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, message) {
    for (const key of [type, "*"]) {
      for (const fn of [...(this.listeners.get(key) || [])]) {
        try {
          fn(message);
        } catch (error) {
          console.error(`listener for ${type} failed`, error);
        }
      }
    }
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit("status", { type: "status", status });
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.token }));
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending(new AppError("disconnected", "the connection to the server was lost"));
      if (this.stopped) return;
      if (event.code === 4001) {
        this.setStatus("closed");
        this.emit("auth_failed", { type: "auth_failed", code: event.reason || "invalid_token" });
        return;
      }
      this.setStatus("reconnecting");
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
      this.attempt += 1;
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      console.error("unreadable socket message", raw);
      return;
    }
    if (message.type === "hello") {
      this.attempt = 0;
      this.setStatus("open");
      for (const resolve of this.waiters.splice(0)) resolve();
      if (this.everOpened) this.emit("resumed", { type: "resumed" });
      this.everOpened = true;
    }
    const waiting = message.id !== undefined ? this.pending.get(message.id) : undefined;
    if (waiting) {
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "error") waiting.reject(new AppError(message.code, message.message));
      else waiting.resolve(message);
      return;
    }
    if (message.type === "error") {
      console.warn("socket error", message);
      this.emit("socket_error", message);
      return;
    }
    this.emit(message.type, message);
  }

  failPending(error) {
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
      this.pending.delete(id);
    }
  }

  // Resolves when the socket is authenticated (waits through reconnections).
  ready(timeoutMs = REQUEST_TIMEOUT_MS) {
    if (this.status === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new AppError("disconnected", "not connected to the server")),
        timeoutMs,
      );
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  send(message) {
    if (this.status !== "open" || !this.ws) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // Send with a fresh id; resolves with the reply, rejects with AppError(code) on error.
  async request(message, timeoutMs = REQUEST_TIMEOUT_MS) {
    await this.ready(timeoutMs);
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AppError("timeout", `no answer to ${message.type}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send({ ...message, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new AppError("disconnected", "not connected to the server"));
      }
    });
  }
}
