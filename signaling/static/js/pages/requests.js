// Message requests: threads from people you don't follow. Their lives can't be watched until
// accepted; accepting moves the thread to the inbox, deleting (declining) hides it and blocking
// also blocks the sender (who isn't told either way).
import { api, all } from "../api.js";
import { h, replace, debounce } from "../dom.js";
import { threadRow } from "./inbox.js";
import { refreshCounts } from "../app.js";

export async function render(ctx) {
  const list = h("ul", { class: "threads", "data-testid": "requests" });
  ctx.main.append(h("section", { class: "card" },
    h("h1", {}, "Message requests"),
    h("p", { class: "muted" }, "From people you don't follow. They won't know you've seen them until you accept."),
    list,
  ));
  const answer = async (thread, what) => {
    const id = encodeURIComponent(thread.thread_id);
    try {
      if (what === "block") {
        const other = thread.members.find((m) => m !== ctx.me);
        await api.post(`/api/users/${encodeURIComponent(other)}/block`);
        await api.post(`/api/threads/${id}/decline`).catch(() => {}); // the block hides it anyway
      } else {
        await api.post(`/api/threads/${id}/${what}`);
      }
      refreshCounts();
      if (what === "accept") ctx.navigate(`#/thread/${id}`);
      else await load();
    } catch (error) {
      ctx.error(error);
    }
  };
  const load = async () => {
    try {
      const threads = await all("/api/requests", "threads", 200);
      if (!ctx.alive()) return;
      replace(list, threads.length
        ? threads.map((t) => threadRow(t, ctx.me, h("span", { class: "actions" },
          h("button", { class: "primary small", onclick: () => answer(t, "accept") }, "Accept"),
          h("button", { class: "small", onclick: () => answer(t, "decline") }, "Delete"),
          t.kind === "dm" ? h("button", { class: "small danger", onclick: () => answer(t, "block") }, "Block") : null,
        )))
        : h("li", { class: "empty" }, "No message requests."));
    } catch (error) {
      if (ctx.alive()) ctx.error(error);
    }
  };
  const reload = debounce(load, 50);
  for (const type of ["request.new", "resumed"]) ctx.on(type, reload);
  await load();
}
