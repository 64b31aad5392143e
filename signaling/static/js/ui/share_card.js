// A shared live in a thread: who hosts it, who shared it, LIVE or ENDED, the live's viewer
// count kept current (read every second while the live runs), and Watch only where watching
// can succeed (not before a message request is accepted, not a private host one doesn't follow).
import { api, enc } from "../api.js";
import { avatar, h, replace } from "../dom.js";
import { sentence } from "../errors.js";

const REFRESH_MS = 1000;

export class ShareCards {
  constructor({ me, threadId, alive }) {
    this.me = me;
    this.threadId = threadId;
    this.alive = alive;
    this.lives = new Map(); // live id -> {host, state, viewer_count}
    this.cards = new Map(); // live id -> Set of {el, message}
    this.privateHosts = new Map(); // host -> private and I don't follow (a Promise while asked)
    this.locked = false; // the thread is a message request
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  card(message) {
    const el = h("div", { class: "share-card", dataset: { liveId: message.live_id } });
    const entry = { el, message };
    if (!this.cards.has(message.live_id)) this.cards.set(message.live_id, new Set());
    this.cards.get(message.live_id).add(entry);
    if (message.live && !this.lives.has(message.live_id)) {
      this.lives.set(message.live_id, { host: null, ...message.live });
    }
    this.draw(entry);
    if (!this.lives.get(message.live_id)?.host) this.fetch(message.live_id);
    return el;
  }

  ended(liveId) {
    const live = this.lives.get(liveId) || { host: null, viewer_count: 0 };
    this.lives.set(liveId, { ...live, state: "ended" });
    this.redraw(liveId);
  }

  setLocked(locked) {
    this.locked = locked;
    for (const liveId of this.cards.keys()) this.redraw(liveId);
  }

  redraw(liveId) {
    for (const entry of this.cards.get(liveId) || []) this.draw(entry);
  }

  async fetch(liveId) {
    try {
      const live = await api.get(`/api/lives/${enc(liveId)}`);
      this.lives.set(liveId, live);
      if (live.state === "live" && live.host !== this.me && !this.privateHosts.has(live.host)) {
        const check = this.closedTo(live.host);
        this.privateHosts.set(live.host, check);
        this.privateHosts.set(live.host, await check);
      }
    } catch (error) {
      const known = this.lives.get(liveId) || {};
      this.lives.set(liveId, { ...known, state: error.code === "live_not_found" ? "gone" : known.state });
    }
    if (this.alive()) this.redraw(liveId);
  }

  // Whether the host is private and I am not an approved follower (watching would be refused).
  async closedTo(host) {
    try {
      await api.get(`/api/users/${enc(host)}/followers?limit=1`);
      return false;
    } catch (error) {
      return error.code === "private_account";
    }
  }

  refresh() {
    if (!this.alive()) return this.close();
    for (const [liveId, live] of this.lives) {
      if (live.state === "live" && this.cards.get(liveId)?.size) this.fetch(liveId);
    }
  }

  // Redraws a card when what it says changes; a new count only replaces the count's text, so
  // the Watch link under a finger stays the same element.
  draw({ el, message }) {
    const live = this.lives.get(message.live_id) || {};
    const over = live.state === "ended" || live.state === "gone";
    const host = live.host;
    const closed = host ? this.privateHosts.get(host) === true : false;
    const from = message.from === this.me ? "You" : message.from;
    let what;
    if (!host) what = `${from} shared a live video`;
    else if (message.from === host) what = message.from === this.me ? "You shared your live video" : `${host} shared their live video`;
    else what = `${from} shared ${host === this.me ? "your" : `${host}'s`} live video`;
    const count = `${live.viewer_count ?? 0} watching`;
    const shape = JSON.stringify([over, this.locked, host, closed, what]);
    if (el.dataset.shape === shape) {
      const shown = el.querySelector("[data-testid=share-count]");
      if (shown && shown.textContent !== count) shown.textContent = count;
      return;
    }
    el.dataset.shape = shape;
    let action;
    if (over) action = h("p", { class: "over", "data-testid": "video-over" }, "The video is over.");
    else if (this.locked) action = h("p", { class: "muted", "data-testid": "share-locked" }, sentence({ code: "request_pending" }));
    else if (closed) action = h("p", { class: "muted", "data-testid": "share-private" }, sentence({ code: "private_account" }));
    else {
      action = h("a", {
        class: "button primary watch", "data-testid": "watch-share",
        href: `#/watch/${enc(message.live_id)}?thread=${enc(this.threadId)}`,
      }, "Watch");
    }
    el.className = `share-card ${over ? "ended" : "live"}`;
    replace(el,
      h("div", { class: "share-thumb", "aria-hidden": "true" }, avatar(host || message.from)),
      h("div", { class: "share-host" },
        avatar(host || message.from, "sm"),
        h("b", { "data-testid": "share-host" }, host || "Live video"),
        h("span", { class: over ? "ended-dot" : "live-dot" }, over ? "ENDED" : "LIVE")),
      h("span", { class: "small" }, what,
        !over ? h("span", { class: "muted" }, " · ", h("span", { "data-testid": "share-count" }, count)) : null),
      action,
    );
  }

  close() {
    clearInterval(this.timer);
  }
}
