// Watching a live, full-screen: every participant's video (with sound), comments and hearts
// over it, reshare (unless the host turned sharing off), request to join, and the end.
// A refusal that retrying cannot change is final: one sentence, no media connection, no retry.
import { api, enc } from "../api.js";
import { h, replace } from "../dom.js";
import { sentence } from "../errors.js";
import { GuestPublisher, Viewer, isFinal, openCamera } from "../media.js";
import { commentsPanel } from "../ui/comments.js";
import { liveView } from "../ui/live_view.js";
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
  const view = liveView({ host: "…", label: "Live video" });
  const leave = h("a", { class: "button round close", href: back, "data-testid": "leave", "aria-label": "Leave the live" }, "✕");
  view.right.append(leave);
  const unmute = h("button", { class: "unmute", hidden: true }, "Tap for sound");
  view.frame.append(unmute);
  ctx.main.append(view.el);
  ctx.cleanup(() => view.close());

  let viewer = null;
  let tiles = null;
  let guest = null;
  let finished = false;
  const refuse = (error, state = "refused") => {
    if (finished) return;
    finished = true;
    debug.state = state;
    debug.refusal = error.code || "error";
    view.refuse(error.code, sentence(error));
    view.setOff();
    stop();
  };

  let live;
  try {
    live = await api.get(`/api/lives/${enc(liveId)}`);
  } catch (error) {
    return refuse(error);
  }
  if (!ctx.alive()) return;
  view.setHost(live.host);
  view.el.setAttribute("aria-label", `${live.host}'s live video`);
  if (live.state === "ended") return refuse({ code: "live_ended" }, "ended");
  view.setCount(live.viewer_count);
  view.setLive(live.started_at);

  const room = new LiveRoom(ctx.socket, liveId, ctx.me, live.host);
  for (const guest of live.guests || []) room.participants.add(guest);
  tiles = new Tiles();
  view.stage.append(tiles.el);
  tiles.onBlocked = () => { unmute.hidden = false; };
  unmute.onclick = () => {
    tiles.setMuted(false);
    unmute.hidden = true;
  };
  const participantOf = (streamId) => (USER_ID.test(streamId) ? streamId : live.host);
  tiles.onSmall = (user, small) => {
    if (viewer) viewer.setParticipantLayer(user, small ? 0 : null).catch(ctx.error);
  };

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
      view.frame.dataset.connection = state;
      if (state === "reconnecting") ctx.notice("Connection lost: reconnecting to the live…");
    },
    onError: (error) => (isFinal(error) ? refuse(error) : ctx.error(error)),
  });

  room.sessionOf = () => viewer && viewer.sessionId;
  room.onSessionElsewhere = () => {
    if (viewer && !finished) viewer.reconnect();
  };

  function stop() {
    if (viewer) viewer.stop();
    if (guest) guest.close();
    guest = null;
    if (tiles) tiles.clear();
    replace(view.bottom);
    unmute.hidden = true;
  }

  // -- controls --------------------------------------------------------------------------------
  const reshare = h("button", {
    "data-testid": "reshare", class: "round", "aria-label": "Share this live",
    hidden: live.allow_sharing === false && live.host !== ctx.me,
    onclick: () => openSharePicker({ me: ctx.me, liveId, isHost: false }).catch(ctx.error),
  }, "↗");
  const join = h("button", {
    "data-testid": "request-join", class: "round", "aria-label": "Request to join",
    onclick: async () => {
      join.disabled = true;
      try {
        await room.requestJoin();
      } catch (error) {
        join.disabled = false;
        ctx.error(error);
      }
    },
  }, "+");
  const joinState = h("p", { class: "join-state", "data-testid": "join-state", role: "status" });
  const leaveGuest = h("button", {
    hidden: true, class: "end",
    onclick: async () => {
      try {
        await guest.leave();
      } catch (error) {
        ctx.error(error);
      }
      guest = null;
      tiles.remove(ctx.me);
      leaveGuest.hidden = true;
      leave.hidden = false;
      join.hidden = false;
      join.disabled = false;
    },
  }, "Leave the broadcast");

  async function becomeGuest() {
    joinState.textContent = "You're joining…";
    let stream = null;
    try {
      stream = await openCamera();
      if (!ctx.alive() || finished) throw Object.assign(new Error("left"), { code: "left" });
      tiles.setLocal(ctx.me, "You", stream);
      guest = new GuestPublisher(ctx.socket, liveId, stream, (state) => {
        if (state === "failed") ctx.error({ code: "guest_connection_lost", message: "Your video connection to the live was lost." });
      });
      await guest.start();
      joinState.textContent = "You're live with the host.";
      join.hidden = true;
      leave.hidden = true; // one way out while in the broadcast
      leaveGuest.hidden = false;
    } catch (error) {
      if (guest) guest.close();
      else if (stream) for (const track of stream.getTracks()) track.stop();
      guest = null;
      tiles.remove(ctx.me);
      joinState.textContent = "";
      join.disabled = false;
      if (error.code !== "left") ctx.error(error);
    }
  }

  const panel = commentsPanel(room, { onError: ctx.error, overlay: view.reactions, extra: [reshare, join] });
  replace(view.bottom, joinState, leaveGuest, panel.list, panel.actions);

  room.onChange((what) => {
    if (what === "viewers" || what === "participants") view.setCount(room.audience);
    if (what === "settings") join.hidden = room.settings.joins === false || Boolean(guest) || room.join === "invited";
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
        leave.hidden = false;
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
        join.hidden = true;
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
    if (finished) return;
    debug.state = "watching";
    room.onError = ctx.error;
    room.resume();
  } catch (error) {
    if (!ctx.alive() || finished) return;
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
