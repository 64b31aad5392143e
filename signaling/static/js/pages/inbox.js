// The inbox: who is live now (shares to all followers, and lives sent in a thread), threads by
// last activity with the last message, its time and unread in bold, a search over them, and
// "New message" with a people picker. Refreshed by pushed events and after reconnecting.
import { api, all, enc } from "../api.js";
import { avatar, h, replace, debounce } from "../dom.js";
import { knownPeople, peoplePicker } from "../ui/people_picker.js";

const PREVIEWS = 30; // threads whose last message is read for the preview line

export function threadTitle(thread, me) {
  if (thread.name) return thread.name;
  const others = thread.members.filter((m) => m !== me);
  return others.join(", ") || me;
}

function shortTime(seconds) {
  if (!seconds) return "";
  const delta = Math.max(0, Date.now() / 1000 - seconds);
  if (delta < 60) return "now";
  if (delta < 3600) return `${Math.floor(delta / 60)}m`;
  if (delta < 86400) return `${Math.floor(delta / 3600)}h`;
  if (delta < 7 * 86400) return `${Math.floor(delta / 86400)}d`;
  return `${Math.floor(delta / (7 * 86400))}w`;
}

export function previewOf(message, me) {
  if (!message) return "";
  const who = message.from === me ? "You: " : "";
  if (message.kind === "share") return `${who}shared a live video`;
  if (message.kind === "post") return `${who}sent ${message.post && message.post.kind === "photo" ? "a photo" : "a video"}`;
  return `${who}${message.text}`;
}

export function threadRow(thread, me, extra = null, last = null) {
  const title = threadTitle(thread, me);
  const preview = previewOf(last, me);
  return h("li", { class: `thread-row ${thread.unread ? "unread" : ""}`, dataset: { threadId: thread.thread_id } },
    h("a", { href: `#/thread/${encodeURIComponent(thread.thread_id)}`, class: "thread-link" },
      avatar(title),
      h("span", { class: "thread-text" },
        h("span", { class: "title" }, title,
          thread.kind === "group" ? h("span", { class: "muted small" }, ` · ${thread.members.length} people`) : null),
        h("span", { class: "preview" }, preview || (thread.kind === "group" ? "Group" : ""),
          last ? ` · ${shortTime(last.sent_at)}` : "")),
      thread.unread
        ? h("span", { class: "badge unread", "data-testid": "unread", "aria-label": `${thread.unread} unread` }, String(thread.unread))
        : null,
    ),
    extra,
  );
}

export async function render(ctx) {
  const lives = h("ul", { class: "lives live-strip", "data-testid": "live-shares", "aria-label": "Live now" });
  const livesTitle = h("h2", { class: "sub", hidden: true, id: "dl-lives-title" }, "Live now");
  const threads = h("ul", { class: "threads", "data-testid": "threads", "aria-label": "Conversations" },
    h("li", { class: "loading", role: "status", "aria-label": "Loading" }, h("div", { class: "skeleton" }), h("div", { class: "skeleton" })));
  const search = h("input", {
    type: "search", class: "inbox-search", name: "thread-search", placeholder: "Search", autocomplete: "off",
    "aria-label": "Search conversations", oninput: () => draw(),
  });
  const composer = h("section", { class: "card new-message", hidden: true, "data-testid": "new-message" });
  const newButton = h("button", {
    class: "primary", "data-testid": "new-message-open", "aria-expanded": "false",
    onclick: () => openComposer(composer.hidden),
  }, "New message");
  ctx.main.append(
    composer,
    h("section", { class: "card" },
      h("div", { class: "thread-head" }, h("h1", {}, "Messages"), newButton),
      livesTitle, lives, search, threads),
  );

  let picker = null;
  async function openComposer(open) {
    composer.hidden = !open;
    newButton.setAttribute("aria-expanded", String(open));
    if (!open) return;
    picker = peoplePicker({ people: await knownPeople(ctx.me), me: ctx.me, label: "Search people to message" });
    const name = h("input", { name: "name", placeholder: "Group name (optional)", autocomplete: "off", "aria-label": "Group name (optional)" });
    replace(composer,
      h("h2", {}, "New message"),
      h("form", {
        class: "new-message",
        onsubmit: async (event) => {
          event.preventDefault();
          const members = picker.chosen();
          try {
            const thread = await api.post("/api/threads", { members, name: name.value.trim() });
            ctx.navigate(`#/thread/${encodeURIComponent(thread.thread_id)}`);
          } catch (error) {
            ctx.error(error.code === "no_members" ? { code: "no_targets" } : error);
          }
        },
      }, picker.el, name, h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => openComposer(false) }, "Cancel"),
        h("button", { type: "submit", class: "primary", "data-testid": "new-message-start" }, "Chat"))),
    );
    picker.el.querySelector("input").focus();
  }

  let inbox = [];
  const lastOf = new Map();
  function draw() {
    const query = search.value.trim().toLowerCase();
    const shown = inbox.filter((t) => !query || threadTitle(t, ctx.me).toLowerCase().includes(query)
      || t.members.some((m) => m.includes(query)));
    replace(threads, shown.length
      ? shown.map((t) => threadRow(t, ctx.me, null, lastOf.get(t.thread_id)))
      : h("li", { class: "empty" }, inbox.length ? "No conversation matches." : "No conversations yet. Start one with New message."));
  }

  const load = async () => {
    try {
      const [all_, shares] = await Promise.all([
        all("/api/inbox", "threads", 200),
        api.get("/api/shares?limit=50"),
      ]);
      const lasts = await Promise.all(all_.slice(0, PREVIEWS).map((t) =>
        api.get(`/api/threads/${enc(t.thread_id)}/messages?limit=1`).then((p) => p.messages[0], () => null)));
      if (!ctx.alive()) return;
      inbox = all_;
      lastOf.clear();
      all_.slice(0, PREVIEWS).forEach((t, i) => lastOf.set(t.thread_id, lasts[i]));
      const running = new Map();
      for (const s of shares.shares) if (s.state === "live") running.set(s.live_id, { host: s.host, liveId: s.live_id, thread: null });
      all_.slice(0, PREVIEWS).forEach((t, i) => {
        const m = lasts[i];
        if (m && m.kind === "share" && m.live && m.live.state === "live" && !running.has(m.live_id)) {
          running.set(m.live_id, { host: null, liveId: m.live_id, thread: t.thread_id, from: m.from });
        }
      });
      livesTitle.hidden = running.size === 0;
      replace(lives, [...running.values()].map((s) => {
        const href = `#/watch/${encodeURIComponent(s.liveId)}${s.thread ? `?thread=${encodeURIComponent(s.thread)}` : ""}`;
        const who = s.host || s.from;
        return h("li", { dataset: { liveId: s.liveId } },
          h("a", { class: "live-card", href, "aria-label": `Watch ${s.host ? `${s.host}'s live` : `the live ${s.from} sent`}` },
            avatar(who), h("span", { class: "live-dot" }, "LIVE"), h("span", {}, who)));
      }));
      draw();
      ctx.app.debug.inbox = inbox;
    } catch (error) {
      if (ctx.alive()) ctx.error(error);
    }
  };
  const reload = debounce(load, 50);
  for (const type of ["message.new", "share.new", "request.new", "live.ended", "resumed"]) ctx.on(type, reload);
  await load();
}
