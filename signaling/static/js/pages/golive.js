// Go live, full-screen: camera preview and Go Live, then the host's view: LIVE, viewer count
// and timer on top, End at the top right; comments over the video, Share, microphone, camera
// flip and a sheet for settings and people at the bottom; join requests right above the
// comments. Leaving the page ends the live and turns the camera off.
import { api, blobUrl, enc } from "../api.js";
import { clock, h, replace } from "../dom.js";
import { icon } from "../icons.js";
import { sentence } from "../errors.js";
import { Broadcast } from "../ui/broadcast.js";
import { commentsPanel } from "../ui/comments.js";
import { liveView } from "../ui/live_view.js";
import { openSharePicker } from "../ui/share_picker.js";

export async function render(ctx) {
  const b = new Broadcast(ctx.socket, ctx.me, ctx.error);
  ctx.app.state.broadcast = b;
  const debug = { status: b.status, liveId: b.liveId, viewers: 0, tiles: [], publisher: null };
  ctx.app.debug.golive = debug;

  const view = liveView({ host: ctx.me, label: "Go live" });
  view.stage.append(b.tiles.el);
  ctx.main.append(view.el);
  const note = h("p", { class: "live-note", role: "status" });

  const close = h("a", { class: "button round close", href: "#/inbox", "aria-label": "Close" }, "✕");
  const goLive = h("button", {
    class: "golive-button", "data-testid": "go-live", disabled: true,
    onclick: async () => {
      goLive.disabled = true;
      note.textContent = "Going live…";
      try {
        await b.goLive();
        note.textContent = "";
      } catch (error) {
        if (!ctx.alive()) return;
        note.textContent = sentence(error);
        goLive.disabled = !b.stream;
      }
    },
  }, "Go Live");
  const share = h("button", {
    "data-testid": "share", class: "round", "aria-label": "Share this live",
    onclick: () => openSharePicker({ me: ctx.me, liveId: b.liveId, isHost: true }).catch(ctx.error),
  }, "↗");
  const end = h("button", {
    class: "end", "data-testid": "end-live",
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
  const mic = h("button", {
    class: "round", "data-testid": "mic", "aria-pressed": "false", "aria-label": "Mute microphone",
    onclick: () => b.setMic(!b.micOn),
  }, icon("mic"));
  const flip = h("button", {
    class: "round", "data-testid": "flip-camera", "aria-label": "Switch camera", hidden: true,
    onclick: () => b.flipCamera().catch(ctx.error),
  }, icon("flip"));
  const recordBox = h("input", { type: "checkbox", name: "record", "data-testid": "record", onchange: () => { b.record = recordBox.checked; } });
  const record = h("label", { class: "switch live-note" }, recordBox, "Record this live");
  const recording = h("div", { class: "recording", "data-testid": "recording" });
  const requestsCount = h("span", { class: "badge", hidden: true });
  const more = h("button", {
    class: "round", "data-testid": "live-menu", "aria-label": "Live settings and people", "aria-expanded": "false",
    onclick: () => toggleSheet(),
  }, "⋯", requestsCount);

  const toggle = (key, label) => {
    const box = h("input", {
      type: "checkbox", name: key, checked: true,
      onchange: () => b.room.send("live.settings", { [key]: box.checked }).catch((error) => {
        box.checked = !box.checked;
        ctx.error(error);
      }),
    });
    return { box, el: h("label", { class: "switch" }, box, label) };
  };
  const commentsToggle = toggle("comments", "Comments");
  const joinsToggle = toggle("joins", "Join requests");
  const requests = h("ul", { class: "join-requests", "data-testid": "join-requests", "aria-label": "Requests to join" });
  const viewers = h("ul", { class: "viewers", "data-testid": "viewers" });
  const sheet = h("div", { class: "sheet", hidden: true, role: "dialog", "aria-label": "Live settings and people" },
    h("section", {}, h("h3", {}, "Settings"), commentsToggle.el, joinsToggle.el),
    h("section", {}, h("h3", {}, "People watching"), viewers),
    h("button", { onclick: () => toggleSheet(false) }, "Close"),
  );
  view.frame.append(sheet);
  function toggleSheet(open = sheet.hidden) {
    sheet.hidden = !open;
    more.setAttribute("aria-expanded", String(open));
  }
  let panel = null;

  function renderRequests() {
    const room = b.room;
    if (!room) return;
    replace(requests, room.joinRequests.map((user) => h("li", { dataset: { user } },
      h("b", {}, `${user} wants to join`),
      h("button", { class: "primary small", "data-testid": "accept-join", onclick: () => room.answerJoin(user, true).catch(ctx.error) }, "Accept"),
      h("button", { class: "small", "data-testid": "decline-join", onclick: () => room.answerJoin(user, false).catch(ctx.error) }, "Decline"),
    )));
    requests.hidden = room.joinRequests.length === 0;
    requestsCount.hidden = room.joinRequests.length === 0;
    requestsCount.textContent = String(room.joinRequests.length);
    const guests = [...room.participants].filter((u) => u !== ctx.me);
    const watching = room.viewers.filter((u) => !guests.includes(u));
    replace(viewers,
      guests.map((user) => h("li", {}, h("b", {}, `${user} (guest)`),
        h("button", { class: "small", onclick: () => room.send("guest.remove", { user }).catch(ctx.error) }, "Remove from broadcast"))),
      watching.map((user) => h("li", {}, h("b", {}, user),
        h("button", { class: "small", onclick: () => room.send("join.invite", { user }).catch(ctx.error) }, "Invite"),
        h("button", { class: "small", onclick: () => room.send("viewer.remove", { user }).catch(ctx.error) }, "Remove"))),
      guests.length + watching.length ? null : h("li", { class: "muted" }, "Nobody is watching yet. Share your live to invite people."),
    );
  }

  function render() {
    debug.status = b.status;
    debug.liveId = b.liveId;
    if (b.status === "live" || b.status === "ended") replace(view.right, b.status === "live" ? end : null);
    else replace(view.right, close);
    if (b.status === "ended") {
      view.setOff();
      toggleSheet(false);
      const lost = b.endReason === "host_connection_lost";
      replace(view.bottom);
      view.frame.append(h("div", { class: "end-summary", "data-testid": "end-summary" },
        h("h2", {}, "Your live video has ended"),
        lost ? h("p", {}, sentence({ code: "publisher_lost", message: "The connection was lost, so the live ended." })) : null,
        h("p", {}, `${clock(b.endedAt - b.startedAt)} live · ${b.peakViewers} ${b.peakViewers === 1 ? "viewer" : "viewers"} at most · ${b.room ? b.room.comments.length : 0} comments`),
        b.record ? recording : null,
        h("a", { class: "button primary", href: "#/inbox" }, "Done"),
        h("button", { onclick: () => ctx.navigate("#/live") }, "Go live again"),
      ));
      return;
    }
    if (b.status !== "live") {
      replace(view.bottom, note, record, h("div", { class: "live-actions", style: "justify-content:center" }, goLive), h("div", { class: "live-actions", style: "justify-content:center" }, mic, flip));
      return;
    }
    view.setLive(b.startedAt);
    view.setCount(b.room.audience);
    if (!panel) {
      panel = commentsPanel(b.room, { moderate: true, onError: ctx.error, overlay: view.reactions, extra: [share, mic, flip, more] });
      ctx.cleanup(() => panel.close());
    }
    replace(view.bottom, note, requests, panel.list, panel.actions);
    renderRequests();
  }

  const off = b.onChange((what) => {
    if (what === "status" || what === "participants") render();
    if (what === "status" && b.room && !roomOff) watchRoom();
    if (what === "mic") {
      mic.setAttribute("aria-pressed", String(!b.micOn));
      mic.setAttribute("aria-label", b.micOn ? "Mute microphone" : "Unmute microphone");
      replace(mic, icon(b.micOn ? "mic" : "micOff"));
    }
  });
  let roomOff = null;
  function watchRoom() {
    roomOff = b.room.onChange((what) => {
      if (what === "viewers") {
        view.setCount(b.room.audience);
        debug.viewers = b.room.viewerCount;
      }
      if (what === "requests" || what === "viewers" || what === "participants") renderRequests();
      if (what === "settings") {
        commentsToggle.box.checked = b.room.settings.comments !== false;
        joinsToggle.box.checked = b.room.settings.joins !== false;
      }
    });
  }
  // The recording of the live, once its files are final: played back on the end screen.
  replace(recording, h("p", { class: "muted" }, "Saving your recording…"));
  let recordingUrl = null;
  ctx.on("recording.ready", async (event) => {
    if (event.live_id !== b.liveId) return;
    try {
      const rec = await api.get(`/api/recordings/${enc(event.live_id)}`);
      const mine = rec.files.find((f) => f.participant === ctx.me) || rec.files[0];
      if (!mine) return replace(recording, h("p", { class: "muted" }, "Nothing was recorded."));
      recordingUrl = await blobUrl(mine.url);
      if (!ctx.alive()) return URL.revokeObjectURL(recordingUrl);
      replace(recording, h("video", { src: recordingUrl, controls: true, playsInline: true, "aria-label": "Recording of your live" }));
    } catch (error) {
      replace(recording, h("p", { class: "error" }, sentence(error)));
    }
  });
  ctx.cleanup(() => recordingUrl && URL.revokeObjectURL(recordingUrl));
  ctx.cleanup(() => {
    off();
    if (roomOff) roomOff();
    view.close();
    b.stop(); // ends a running live and turns the camera and microphone off
    if (ctx.app.state.broadcast === b) ctx.app.state.broadcast = null;
  });

  const sampler = setInterval(async () => {
    debug.tiles = b.tiles.describe();
    debug.viewers = b.room ? b.room.viewerCount : 0;
    debug.publisher = await b.publisherStats().catch(() => null);
  }, 200);
  ctx.cleanup(() => clearInterval(sampler));

  render();
  note.textContent = "Starting your camera…";
  try {
    await b.preview();
    if (!ctx.alive()) return;
    note.textContent = "Check your camera, then go live. You'll share it with friends next.";
    goLive.disabled = false;
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    flip.hidden = cameras.length < 2;
  } catch (error) {
    if (!ctx.alive() || error.code === "left") return;
    note.textContent = sentence(error); // said once, here; Go Live stays off without a camera
  }
}
