// A thread: its messages (texts, live shares, photo and video posts), a composer that can
// attach a photo or a video (or, on phones, take one), and for a message request the Accept /
// Delete / Block bar. A share's state is read with the message and updated by `live.ended`,
// so "The video is over" shows the moment the host ends.
import { api, all, enc, upload } from "../api.js";
import { h, replace } from "../dom.js";
import { icon } from "../icons.js";
import { sentence } from "../errors.js";
import { refreshCounts } from "../app.js";
import { threadTitle } from "./inbox.js";
import { PostCard } from "../ui/post_card.js";
import { ShareCards } from "../ui/share_card.js";

const GROUP_GAP_S = 15 * 60; // a time line before a message this long after the previous one

async function findThread(threadId) {
  for (const [path, key] of [["/api/inbox", "threads"], ["/api/requests", "threads"]]) {
    const found = (await all(path, key, 1000)).find((t) => t.thread_id === threadId);
    if (found) return found;
  }
  return null;
}

function when(seconds) {
  const date = new Date(seconds * 1000);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} ${time}`;
}

export async function render(ctx) {
  const threadId = ctx.args[0];
  const title = h("h1", {}, "Conversation");
  const bar = h("div", { class: "request-bar", hidden: true, "data-testid": "request-bar" });
  const list = h("ol", { class: "messages", "data-testid": "messages", "aria-label": "Messages" },
    h("li", { class: "loading", role: "status", "aria-label": "Loading" }, h("div", { class: "skeleton" }), h("div", { class: "skeleton" })));
  const status = h("p", { class: "uploading", role: "status", hidden: true });
  const input = h("input", { type: "text", name: "text", placeholder: "Message…", autocomplete: "off", maxlength: "2000", "aria-label": "Message" });
  const send = h("button", { type: "submit", class: "primary", "data-testid": "send" }, "Send");
  const picker = (capture) => {
    const file = h("input", {
      type: "file", accept: "image/*,video/*", name: capture ? "camera" : "attachment",
      "data-testid": capture ? "take-photo" : "attach",
      onchange: () => {
        if (file.files[0]) sendFile(file.files[0]);
        file.value = "";
      },
    });
    if (capture) file.setAttribute("capture", "environment");
    return h("label", { class: "attach", title: capture ? "Take a photo or video" : "Send a photo or video", hidden: capture && !matchMedia("(pointer: coarse)").matches },
      icon(capture ? "camera" : "image"),
      h("span", { class: "sr-only" }, capture ? "Take a photo or video" : "Send a photo or video"), file);
  };
  const form = h("form", {
    class: "composer",
    onsubmit: async (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      send.disabled = true;
      try {
        const message = await api.post(`/api/threads/${enc(threadId)}/messages`, { text });
        if (input.value === text) input.value = "";
        add(message);
        if (thread && thread.state === "request") await reloadThread(); // writing accepts
      } catch (error) {
        ctx.error(error);
      } finally {
        send.disabled = false;
      }
    },
  }, picker(false), picker(true), input, send);
  ctx.main.append(h("section", { class: "card thread" },
    h("div", { class: "thread-head" }, h("a", { href: "#/inbox", class: "back", "aria-label": "Back to the inbox" }, "←"), title),
    bar, list, status, form));

  let thread = null;
  const shown = new Map(); // message id -> {el, message, card}
  const posts = new Map(); // post id -> PostCard
  const shares = new ShareCards({ me: ctx.me, threadId, alive: ctx.alive });
  ctx.cleanup(() => {
    shares.close();
    for (const card of posts.values()) card.close();
  });

  async function sendFile(file) {
    status.hidden = false;
    status.textContent = `Sending ${file.type.startsWith("video/") ? "the video" : "the photo"}…`;
    try {
      await upload(`/api/threads/${enc(threadId)}/posts`, file);
      status.hidden = true; // the message arrives as message.new, like everyone else's
    } catch (error) {
      status.hidden = true;
      ctx.error(error);
    }
  }

  function body(m) {
    if (m.kind === "share") return shares.card(m);
    if (m.kind === "post") {
      if (!m.post) return h("p", { class: "muted" }, "This post was removed.");
      const card = posts.get(m.post.post_id) || new PostCard(m.post, { me: ctx.me, from: m.from, onError: ctx.error });
      posts.set(m.post.post_id, card);
      return card.el;
    }
    return h("p", { class: "text" }, m.text);
  }

  // Names over others' messages in groups when the sender changes; a time line after a pause.
  function element(m, previous) {
    const mine = m.from === ctx.me;
    const group = thread && thread.kind === "group";
    const newRun = !previous || previous.from !== m.from || m.sent_at - previous.sent_at > GROUP_GAP_S;
    const gap = !previous || m.sent_at - previous.sent_at > GROUP_GAP_S;
    const el = h("li", { class: `message ${mine ? "mine" : ""} ${m.kind}`, dataset: { id: m.id, kind: m.kind, from: m.from } },
      !mine && group && newRun ? h("span", { class: "from" }, m.from) : null,
      !mine && !group ? h("span", { class: "sr-only" }, `${m.from}:`) : null,
      body(m),
    );
    return gap ? [h("li", { class: "day" }, h("time", {}, when(m.sent_at))), el] : [el];
  }

  function add(m) {
    if (m.thread_id !== threadId) return;
    if (shown.has(m.id)) return;
    const previous = [...shown.values()].at(-1);
    const els = element(m, previous && previous.message);
    list.append(...els);
    shown.set(m.id, { el: els.at(-1), message: m });
    list.scrollTop = list.scrollHeight;
  }

  function renderBar() {
    const pending = thread && thread.state === "request";
    bar.hidden = !pending;
    shares.setLocked(Boolean(pending));
    if (!pending) return replace(bar);
    const others = thread.members.filter((m) => m !== ctx.me);
    const who = thread.kind === "group" ? `${thread.name || others.join(", ")} (a group)` : others[0];
    replace(bar,
      h("p", {}, `${who} ${others.length > 1 && thread.kind !== "group" ? "want" : "wants"} to send you messages. Accept to reply and to watch the lives they share.`),
      h("button", { class: "primary", onclick: () => answer("accept") }, "Accept"),
      h("button", { onclick: () => answer("decline") }, "Delete"),
      thread.kind === "dm" ? h("button", { class: "danger", onclick: () => answer("block", others[0]) }, "Block") : null,
    );
  }

  async function answer(what, user) {
    try {
      if (what === "block") {
        await api.post(`/api/users/${enc(user)}/block`);
        await api.post(`/api/threads/${enc(threadId)}/decline`).catch(() => {}); // a block hides it anyway
      } else {
        await api.post(`/api/threads/${enc(threadId)}/${what}`);
      }
      refreshCounts();
      if (what !== "accept") return ctx.navigate("#/requests");
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
    ctx.app.debug.thread = thread;
  }

  async function load() {
    try {
      await reloadThread();
      const page = await api.get(`/api/threads/${enc(threadId)}/messages?limit=100`);
      if (!ctx.alive()) return;
      for (const loading of list.querySelectorAll(".loading")) loading.remove();
      for (const m of page.messages.slice().reverse()) add(m);
      if (!shown.size) list.append(h("li", { class: "empty" }, "No messages yet. Say hi!"));
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
    for (const empty of list.querySelectorAll(".empty")) empty.remove();
    add(event.message);
    api.post(`/api/threads/${enc(threadId)}/read`).then(refreshCounts, ctx.error);
  });
  ctx.on("post.liked", (event) => event.thread_id === threadId && posts.get(event.post_id)?.onLiked(event));
  ctx.on("post.comment", (event) => event.thread_id === threadId && posts.get(event.post_id)?.commented(event.comment));
  ctx.on("request.new", (event) => event.thread_id === threadId && load());
  ctx.on("live.ended", (event) => shares.ended(event.live_id));
  ctx.on("resumed", load);
  await load();
}
