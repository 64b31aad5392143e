// Watching a live: video (with sound) of every participant side by side, comments and
// reactions, reshare (unless the host turned sharing off), request to join, and the end.
// A refused watch says why in words; no media connection is kept for it.
import { api, enc } from "../api.js";
import { h, replace } from "../dom.js";
import { sentence } from "../errors.js";
import { GuestPublisher, Viewer, isFinal, openCamera } from "../media.js";
import { commentsPanel } from "../ui/comments.js";
import { LiveRoom } from "../ui/room.js";
import { openSharePicker } from "../ui/share_picker.js";
import { Tiles } from "../ui/tiles.js";

const USER_ID = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

export async function render(ctx) {
  const liveId = ctx.args[0];
  const viaThread = ctx.query.get("thread") || null;
  const debug = { liveId, state: "loading", refusal: null, tiles: [], stats: null };
  ctx.app.debug.watch = debug;

  const back = viaThread ? `#/thread/${enc(viaThread)}` : "#/inbox";
  const heading = h("h1", {}, "Live");
  const count = h("span", { class: "viewer-count", "data-testid": "viewer-count" });
  const banner = h("div", { class: "banner", role: "alert", hidden: true, "data-testid": "watch-banner" });
  const stage = h("div", { class: "stage" });
  const overlay = h("div", { class: "reactions" });
  const unmute = h("button", { class: "unmute", hidden: true }, "Tap for sound");
  const controls = h("div", { class: "controls" });
  const side = h("div", { class: "side" });
  const layout = h("div", { class: "live-layout" }, h("div", { class: "stage-wrap" }, stage, overlay, unmute), side);
  ctx.main.append(h("section", { class: "card watch" },
    h("a", { href: back, class: "back" }, "← Back"),
    h("div", { class: "live-head" }, heading, count),
    banner,
    layout,
    controls,
  ));

  let viewer = null;
  let tiles = null;
  let guest = null;
  const refuse = (error, state = "refused") => {
    debug.state = state;
    debug.refusal = error.code || "error";
    banner.hidden = false;
    banner.className = `banner ${error.code === "live_ended" ? "over" : "error"}`;
    banner.dataset.code = error.code || "";
    banner.textContent = sentence(error);
    stop();
  };

  let live;
  try {
    live = await api.get(`/api/lives/${enc(liveId)}`);
  } catch (error) {
    return refuse(error);
  }
  if (!ctx.alive()) return;
  heading.textContent = `${live.host}'s live`;
  count.textContent = `${live.viewer_count} watching`;
  if (live.state === "ended") return refuse({ code: "live_ended" }, "ended");

  const room = new LiveRoom(ctx.socket, liveId, ctx.me, live.host);
  for (const guest of live.guests || []) room.participants.add(guest);
  tiles = new Tiles();
  stage.append(tiles.el);
  tiles.onBlocked = () => { unmute.hidden = false; };
  unmute.onclick = () => {
    tiles.setMuted(false);
    unmute.hidden = true;
  };
  const participantOf = (streamId) => (USER_ID.test(streamId) ? streamId : live.host);

  viewer = new Viewer({
    socket: ctx.socket,
    liveId,
    viaThread,
    onTrack: (streamId, track) => {
      const user = participantOf(streamId);
      if (user === ctx.me) return; // my own tracks as a guest: the local preview shows them
      tiles.addTrack(user, user === live.host ? `${user} (host)` : `${user} (guest)`, track);
    },
    onState: (state) => {
      debug.state = state;
      controls.dataset.connection = state;
      if (state === "reconnecting") ctx.notice("Connection lost: reconnecting to the live…");
    },
    onError: (error) => (isFinal(error) ? refuse(error) : ctx.error(error)),
  });

  function stop() {
    if (viewer) viewer.stop();
    if (guest) guest.close();
    guest = null;
    if (tiles) tiles.clear();
    controls.hidden = true;
    layout.hidden = true;
  }

  // -- controls --------------------------------------------------------------------------------
  const reshare = h("button", {
    "data-testid": "reshare",
    hidden: live.allow_sharing === false && live.host !== ctx.me,
    onclick: () => openSharePicker({ me: ctx.me, liveId, isHost: false }).catch(ctx.error),
  }, "Share");
  const join = h("button", {
    "data-testid": "request-join",
    onclick: async () => {
      join.disabled = true;
      try {
        await room.requestJoin();
      } catch (error) {
        join.disabled = false;
        ctx.error(error);
      }
    },
  }, "Request to join");
  const joinState = h("span", { class: "muted", "data-testid": "join-state" });
  const leaveGuest = h("button", {
    hidden: true,
    onclick: async () => {
      try {
        await guest.leave();
      } catch (error) {
        ctx.error(error);
      }
      guest = null;
      tiles.remove(ctx.me);
      leaveGuest.hidden = true;
      join.hidden = false;
      join.disabled = false;
    },
  }, "Leave the broadcast");
  replace(controls, reshare, join, joinState, leaveGuest,
    h("a", { class: "button", href: back, "data-testid": "leave" }, "Leave"));

  async function becomeGuest() {
    joinState.textContent = "You're joining…";
    try {
      const stream = await openCamera();
      tiles.setLocal(ctx.me, "You", stream);
      guest = new GuestPublisher(ctx.socket, liveId, stream, (state) => {
        if (state === "failed") ctx.error({ code: "guest_connection_lost", message: "Your video connection to the live was lost." });
      });
      await guest.start();
      joinState.textContent = "You're live with the host.";
      join.hidden = true;
      leaveGuest.hidden = false;
    } catch (error) {
      tiles.remove(ctx.me);
      joinState.textContent = "";
      join.disabled = false;
      ctx.error(error);
    }
  }

  const panel = commentsPanel(room, { onError: ctx.error, overlay });
  side.append(panel.el);

  room.onChange((what) => {
    if (what === "viewers") count.textContent = `${room.viewerCount} watching`;
    if (what === "settings") join.hidden = room.settings.joins === false || Boolean(guest);
    if (what === "participants") {
      for (const key of tiles.keys()) {
        if (key !== ctx.me && !room.participants.has(key)) tiles.remove(key);
      }
      if (guest && room.join === null) {
        // the host removed me from the broadcast: back to watching
        guest.close();
        guest = null;
        tiles.remove(ctx.me);
        leaveGuest.hidden = true;
        join.hidden = false;
        join.disabled = false;
        joinState.textContent = "You're no longer in the broadcast.";
      }
    }
    if (what === "join") {
      if (room.join === "requested") joinState.textContent = "Request sent. Waiting for the host…";
      if (room.join === "declined") {
        joinState.textContent = "The host declined your request.";
        join.disabled = false;
      }
      if (room.join === "accepted") becomeGuest();
      if (room.join === "invited") {
        joinState.textContent = "";
        replace(joinState, `${room.invitedBy || live.host} invites you to join. `,
          h("button", { class: "primary", onclick: () => room.requestJoin().catch(ctx.error) }, "Join"));
      }
    }
    if (what === "ended") refuse({ code: "live_ended" }, "ended");
    if (what === "evicted") refuse({ code: room.evicted });
  });
  ctx.cleanup(() => {
    stop();
    panel.close();
    room.close();
  });

  const sampler = setInterval(async () => {
    debug.tiles = tiles.describe();
    try {
      debug.stats = await viewer.stats();
    } catch {
      debug.stats = null; // the connection closed between two samples
    }
  }, 200);
  ctx.cleanup(() => clearInterval(sampler));

  try {
    await viewer.start();
    debug.state = "watching";
    room.onError = ctx.error;
    room.resume();
  } catch (error) {
    if (!ctx.alive()) return;
    if (error.code === "live_not_ready") {
      viewer.reconnect();
    } else if (isFinal(error)) {
      refuse(error);
    } else {
      ctx.error(error);
      viewer.reconnect();
    }
  }
}
