// A thread: its messages (texts and live shares), a composer, and for a message request the
// Accept / Decline bar. A share's state is read with the message and updated by `live.ended`,
// so "The video is over" shows the moment the host ends.
import { api, all, blobUrl, enc } from "../api.js";
import { h, replace, timeAgo } from "../dom.js";
import { sentence } from "../errors.js";
import { refreshCounts } from "../app.js";
import { threadTitle } from "./inbox.js";

async function findThread(threadId) {
  for (const [path, key] of [["/api/inbox", "threads"], ["/api/requests", "threads"]]) {
    const found = (await all(path, key, 1000)).find((t) => t.thread_id === threadId);
    if (found) return found;
  }
  return null;
}

export async function render(ctx) {
  const threadId = ctx.args[0];
  const title = h("h1", {}, "Conversation");
  const bar = h("div", { class: "request-bar", hidden: true, "data-testid": "request-bar" });
  const list = h("ol", { class: "messages", "data-testid": "messages" });
  const input = h("input", { name: "text", placeholder: "Message…", autocomplete: "off", maxlength: "2000" });
  const form = h("form", {
    class: "composer",
    onsubmit: async (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      try {
        const message = await api.post(`/api/threads/${enc(threadId)}/messages`, { text: input.value });
        input.value = "";
        add(message);
        if (thread && thread.state === "request") await reloadThread(); // writing accepts
      } catch (error) {
        ctx.error(error);
      }
    },
  }, input, h("button", { type: "submit" }, "Send"));
  ctx.main.append(h("section", { class: "card thread" }, h("a", { href: "#/inbox", class: "back" }, "← Inbox"), title, bar, list, form));

  let thread = null;
  const shown = new Map(); // message id -> element
  const ended = new Set(); // live ids known to be over

  function shareCard(m) {
    const over = ended.has(m.live_id) || (m.live && m.live.state === "ended");
    const pending = thread && thread.state === "request";
    let action;
    if (over) action = h("p", { class: "over", "data-testid": "video-over" }, "The video is over.");
    else if (pending) action = h("p", { class: "muted", "data-testid": "share-locked" }, sentence({ code: "request_pending" }));
    else action = h("a", {
      class: "button primary watch", "data-testid": "watch-share",
      href: `#/watch/${enc(m.live_id)}?thread=${enc(threadId)}`,
    }, "Watch");
    return h("div", { class: `share-card ${over ? "ended" : "live"}`, dataset: { liveId: m.live_id } },
      h("span", { class: over ? "ended-dot" : "live-dot" }, over ? "ENDED" : "LIVE"),
      h("span", {}, m.from === ctx.me ? " You shared a live video" : ` ${m.from} shared a live video`),
      !over && m.live ? h("span", { class: "muted small" }, ` · ${m.live.viewer_count} watching`) : null,
      action,
    );
  }

  function postCard(m) {
    const post = m.post;
    if (!post) return h("p", { class: "muted" }, "This post was removed.");
    const what = post.kind === "recording" ? "a recorded live video"
      : (post.media && post.media.mime_type.startsWith("image/")) ? "a photo" : "a video";
    const holder = h("div", { class: "post-media" });
    const show = h("button", { class: "button", type: "button", "data-testid": "show-post" }, "Show");
    show.addEventListener("click", async () => {
      show.disabled = true;
      try {
        const url = await blobUrl(post.media.url);
        const image = post.media.mime_type.startsWith("image/");
        replace(holder, image ? h("img", { src: url, alt: post.caption || "photo" })
          : h("video", { src: url, controls: "", playsinline: "" }));
      } catch (error) {
        replace(holder, h("p", { class: "error" }, sentence(error)));
      } finally {
        show.disabled = false;
      }
    });
    return h("div", { class: "post-card", dataset: { postId: post.post_id } },
      h("span", {}, m.from === ctx.me ? `You sent ${what}` : `${m.from} sent ${what}`),
      post.caption ? h("p", { class: "text" }, post.caption) : null,
      h("span", { class: "muted small" }, ` · ${post.likes} likes · ${post.comments} comments`),
      post.media ? show : null,
      holder,
    );
  }

  function body(m) {
    if (m.kind === "share") return shareCard(m);
    if (m.kind === "post") return postCard(m);
    return h("p", { class: "text" }, m.text);
  }

  function element(m) {
    const mine = m.from === ctx.me;
    return h("li", { class: `message ${mine ? "mine" : ""} ${m.kind}`, dataset: { id: m.id, kind: m.kind } },
      h("span", { class: "from" }, m.from),
      body(m),
      h("time", { class: "muted small" }, timeAgo(m.sent_at)),
    );
  }

  function add(m) {
    if (m.thread_id !== threadId) return;
    const el = element(m);
    if (shown.has(m.id)) shown.get(m.id).el.replaceWith(el);
    else list.append(el);
    shown.set(m.id, { el, message: m });
    list.scrollTop = list.scrollHeight;
  }

  function rerenderShares() {
    for (const [id, entry] of shown) {
      if (entry.message.kind !== "share") continue;
      const el = element(entry.message);
      entry.el.replaceWith(el);
      shown.set(id, { el, message: entry.message });
    }
  }

  function renderBar() {
    const pending = thread && thread.state === "request";
    bar.hidden = !pending;
    if (!pending) return replace(bar);
    replace(bar,
      h("p", {}, `${thread.members.filter((m) => m !== ctx.me).join(", ")} wants to send you messages. Accept to reply and to watch the lives they share.`),
      h("button", { class: "primary", onclick: () => answer(true) }, "Accept"),
      h("button", { onclick: () => answer(false) }, "Decline"),
    );
  }

  async function answer(accept) {
    try {
      await api.post(`/api/threads/${enc(threadId)}/${accept ? "accept" : "decline"}`);
      refreshCounts();
      if (!accept) return ctx.navigate("#/requests");
      await reloadThread();
    } catch (error) {
      ctx.error(error);
    }
  }

  async function reloadThread() {
    thread = await findThread(threadId);
    if (!ctx.alive()) return;
    title.textContent = thread ? threadTitle(thread, ctx.me) : "Conversation";
    renderBar();
    rerenderShares();
    ctx.app.debug.thread = thread;
  }

  async function load() {
    try {
      await reloadThread();
      const page = await api.get(`/api/threads/${enc(threadId)}/messages?limit=100`);
      if (!ctx.alive()) return;
      for (const m of page.messages.slice().reverse()) {
        if (m.live && m.live.state === "ended") ended.add(m.live_id);
        add(m);
      }
      if (thread && thread.state === "inbox" && thread.unread) {
        await api.post(`/api/threads/${enc(threadId)}/read`);
        refreshCounts();
      }
    } catch (error) {
      if (ctx.alive()) {
        ctx.error(error);
        list.append(h("li", { class: "error" }, sentence(error)));
      }
    }
  }

  ctx.on("message.new", async (event) => {
    if (event.thread_id !== threadId) return;
    add(event.message);
    api.post(`/api/threads/${enc(threadId)}/read`).then(refreshCounts, ctx.error);
  });
  ctx.on("request.new", (event) => event.thread_id === threadId && load());
  ctx.on("live.ended", (event) => {
    ended.add(event.live_id);
    rerenderShares();
  });
  ctx.on("resumed", load);
  await load();
}
