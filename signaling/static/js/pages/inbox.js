// The inbox: threads by last activity with unread counts, lives shared to all followers,
// and a form to start a conversation. Refreshed by pushed events and after reconnecting.
import { api, all } from "../api.js";
import { h, replace, debounce } from "../dom.js";

export function threadTitle(thread, me) {
  if (thread.name) return thread.name;
  const others = thread.members.filter((m) => m !== me);
  return others.join(", ") || me;
}

export function threadRow(thread, me, extra = null) {
  return h("li", { class: "thread-row", dataset: { threadId: thread.thread_id } },
    h("a", { href: `#/thread/${encodeURIComponent(thread.thread_id)}`, class: "thread-link" },
      h("span", { class: "avatar" }, threadTitle(thread, me).slice(0, 1).toUpperCase()),
      h("span", { class: "title" }, threadTitle(thread, me)),
      thread.kind === "group" ? h("span", { class: "muted small" }, ` · group of ${thread.members.length}`) : null,
      thread.unread ? h("span", { class: "badge unread", "data-testid": "unread" }, String(thread.unread)) : null,
    ),
    extra,
  );
}

export async function render(ctx) {
  const lives = h("ul", { class: "lives", "data-testid": "live-shares" });
  const threads = h("ul", { class: "threads", "data-testid": "threads" });
  const members = h("input", { name: "members", placeholder: "names, comma-separated", autocomplete: "off" });
  const name = h("input", { name: "name", placeholder: "group name (optional)", autocomplete: "off" });
  ctx.main.append(
    h("section", { class: "card" },
      h("h1", {}, "Inbox"),
      h("h2", { class: "sub", hidden: true, id: "dl-lives-title" }, "Live now"),
      lives,
      threads,
    ),
    h("section", { class: "card" },
      h("h2", {}, "New message"),
      h("form", {
        class: "row",
        onsubmit: async (event) => {
          event.preventDefault();
          const ids = members.value.split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
          try {
            const thread = await api.post("/api/threads", { members: ids, name: name.value.trim() });
            ctx.navigate(`#/thread/${encodeURIComponent(thread.thread_id)}`);
          } catch (error) {
            ctx.error(error);
          }
        },
      }, members, name, h("button", { type: "submit" }, "Start")),
    ),
  );

  const load = async () => {
    try {
      const [inbox, shares] = await Promise.all([
        all("/api/inbox", "threads", 200),
        api.get("/api/shares?limit=50"),
      ]);
      if (!ctx.alive()) return;
      const running = shares.shares.filter((s) => s.state === "live");
      document.getElementById("dl-lives-title").hidden = running.length === 0;
      replace(lives, running.map((s) => h("li", { class: "live-card", dataset: { liveId: s.live_id } },
        h("span", { class: "live-dot" }, "LIVE"), " ",
        h("b", {}, s.host), ` is live · ${s.viewer_count} watching `,
        h("a", { class: "button primary", href: `#/watch/${encodeURIComponent(s.live_id)}` }, "Watch"),
      )));
      replace(threads, inbox.length
        ? inbox.map((t) => threadRow(t, ctx.me))
        : h("li", { class: "empty" }, "No conversations yet."));
      ctx.app.debug.inbox = inbox;
    } catch (error) {
      if (ctx.alive()) ctx.error(error);
    }
  };
  const reload = debounce(load, 50);
  for (const type of ["message.new", "share.new", "request.new", "live.ended", "resumed"]) ctx.on(type, reload);
  await load();
}
