// Go live: camera preview, Go Live, then the host's console: Share, viewer count, comments and
// reactions, join requests (accept / decline), the guests' video beside mine, End.
import { h, replace } from "../dom.js";
import { sentence } from "../errors.js";
import { Broadcast } from "../ui/broadcast.js";
import { commentsPanel } from "../ui/comments.js";
import { openSharePicker } from "../ui/share_picker.js";

export async function render(ctx) {
  const { app } = ctx;
  if (!app.state.broadcast || app.state.broadcast.status === "idle") {
    app.state.broadcast = new Broadcast(ctx.socket, ctx.me, ctx.error);
  }
  const b = app.state.broadcast;
  const debug = { status: b.status, liveId: b.liveId, viewers: 0, tiles: [], publisher: null };
  app.debug.golive = debug;

  const title = h("h1", {}, "Go live");
  const badge = h("span", { class: "live-dot", hidden: true }, "LIVE");
  const count = h("span", { class: "viewer-count", "data-testid": "viewer-count" });
  const note = h("p", { class: "status", role: "status" });
  const stageWrap = h("div", { class: "stage-wrap" }, h("div", { class: "stage" }, b.tiles.el));
  const overlay = h("div", { class: "reactions" });
  stageWrap.append(overlay);
  const controls = h("div", { class: "controls" });
  const side = h("div", { class: "side" });
  ctx.main.append(h("section", { class: "card golive" },
    h("div", { class: "live-head" }, title, badge, count),
    note,
    h("div", { class: "live-layout" }, stageWrap, side),
    controls,
  ));

  const goLive = h("button", {
    class: "primary big", "data-testid": "go-live",
    onclick: async () => {
      goLive.disabled = true;
      note.textContent = "Going live…";
      try {
        await b.goLive();
        note.textContent = "";
      } catch (error) {
        note.textContent = sentence(error);
        ctx.error(error);
      } finally {
        goLive.disabled = false;
      }
    },
  }, "Go Live");
  const share = h("button", {
    "data-testid": "share",
    onclick: () => openSharePicker({ me: ctx.me, liveId: b.liveId, isHost: true }).catch(ctx.error),
  }, "Share");
  const end = h("button", {
    class: "danger", "data-testid": "end-live",
    onclick: async () => {
      end.disabled = true;
      try {
        await b.end();
      } catch (error) {
        ctx.error(error);
      } finally {
        end.disabled = false;
      }
    },
  }, "End");
  const again = h("button", {
    class: "primary", onclick: () => {
      b.stop();
      app.state.broadcast = null;
      ctx.navigate("#/live");
    },
  }, "Go live again");

  const toggle = (key, label) => {
    const box = h("input", {
      type: "checkbox", name: key, checked: true,
      onchange: () => b.room.send("live.settings", { [key]: box.checked }).catch((error) => {
        box.checked = !box.checked;
        ctx.error(error);
      }),
    });
    return { box, el: h("label", { class: "switch" }, box, ` ${label}`) };
  };
  const commentsToggle = toggle("comments", "Comments");
  const joinsToggle = toggle("joins", "Join requests");
  const requests = h("ul", { class: "join-requests", "data-testid": "join-requests" });
  const viewers = h("ul", { class: "viewers", "data-testid": "viewers" });
  let panel = null;

  function renderRequests() {
    const room = b.room;
    replace(requests, room.joinRequests.map((user) => h("li", { dataset: { user } },
      h("b", {}, user), " wants to join ",
      h("button", { class: "primary", "data-testid": "accept-join", onclick: () => room.answerJoin(user, true).catch(ctx.error) }, "Accept"),
      h("button", { "data-testid": "decline-join", onclick: () => room.answerJoin(user, false).catch(ctx.error) }, "Decline"),
    )));
    const guests = [...room.participants].filter((u) => u !== ctx.me);
    replace(viewers,
      guests.map((user) => h("li", {}, h("b", {}, user), " (guest) ",
        h("button", { class: "small", onclick: () => room.send("guest.remove", { user }).catch(ctx.error) }, "Remove from broadcast"))),
      room.viewers.filter((u) => !guests.includes(u)).map((user) => h("li", {}, user, " ",
        h("button", { class: "small", onclick: () => room.send("join.invite", { user }).catch(ctx.error) }, "Invite"),
        h("button", { class: "small", onclick: () => room.send("viewer.remove", { user }).catch(ctx.error) }, "Remove"))),
    );
  }

  function render() {
    debug.status = b.status;
    debug.liveId = b.liveId;
    const live = b.status === "live";
    title.textContent = live ? "You're live" : b.status === "ended" ? "Your live has ended" : "Go live";
    badge.hidden = !live;
    count.hidden = !live;
    if (b.room) count.textContent = `${b.room.viewerCount} watching`;
    if (b.status === "ended") {
      note.textContent = b.endReason === "host_connection_lost" ? sentence({ code: "publisher_lost", message: "The connection was lost, so the live ended." }) : "Thanks for going live.";
      replace(controls, again);
      replace(side);
      return;
    }
    if (!live) {
      replace(controls, goLive);
      replace(side, h("p", { class: "muted" }, "Check your camera, then go live. You'll share it with friends next."));
      return;
    }
    replace(controls, share, end, commentsToggle.el, joinsToggle.el);
    if (!panel) {
      panel = commentsPanel(b.room, { moderate: true, onError: ctx.error, overlay });
      ctx.cleanup(() => panel.close());
    }
    replace(side, panel.el, h("section", { class: "panel" }, h("h3", {}, "Requests to join"), requests),
      h("section", { class: "panel" }, h("h3", {}, "People"), viewers));
    renderRequests();
  }

  const off = b.onChange((what) => {
    if (what === "status" || what === "participants") render();
    if (what === "status" && b.room && !roomOff) watchRoom();
  });
  let roomOff = null;
  function watchRoom() {
    roomOff = b.room.onChange((what) => {
      if (what === "viewers") {
        count.textContent = `${b.room.viewerCount} watching`;
        debug.viewers = b.room.viewerCount;
      }
      if (what === "requests" || what === "viewers" || what === "participants") renderRequests();
      if (what === "settings") {
        commentsToggle.box.checked = b.room.settings.comments !== false;
        joinsToggle.box.checked = b.room.settings.joins !== false;
      }
    });
  }
  if (b.room) watchRoom();
  ctx.cleanup(() => {
    off();
    if (roomOff) roomOff();
    b.tiles.el.remove(); // kept by the broadcast for the next visit
  });

  const sampler = setInterval(async () => {
    debug.tiles = b.tiles.describe();
    debug.viewers = b.room ? b.room.viewerCount : 0;
    debug.publisher = await b.publisherStats().catch(() => null);
  }, 200);
  ctx.cleanup(() => clearInterval(sampler));

  render();
  if (b.status === "idle") {
    note.textContent = "Starting your camera…";
    try {
      await b.preview();
      note.textContent = "";
    } catch (error) {
      note.textContent = sentence(error);
      ctx.error(error);
    }
  }
}
