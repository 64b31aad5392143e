// The host's broadcast, owned by the Go live page: camera, publishing connection, the room,
// and a WHEP view of each guest. Leaving the page stops it (ending the live if it runs), so
// the camera and microphone are never left on.
import { AppError } from "../errors.js";
import { Publisher, WhepViewer, openCamera, stopStream } from "../media.js";
import { LiveRoom } from "./room.js";
import { Tiles } from "./tiles.js";

const USER_ID = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

export class Broadcast {
  constructor(socket, me, onError) {
    this.socket = socket;
    this.me = me;
    this.onError = onError;
    this.stream = null;
    this.publisher = null;
    this.room = null;
    this.liveId = null;
    this.status = "idle"; // idle | preview | starting | live | ended | stopped
    this.connection = "new";
    this.tiles = new Tiles();
    this.guests = new Map(); // user -> WhepViewer
    this.tiles.onSmall = (user, small) => {
      const view = this.guests.get(user);
      if (view) view.setMaxLayer(this.socket, small ? 0 : null).catch(() => {}); // a guest leaving
    };
    this.changeFns = new Set();
    this.facingMode = "user";
    this.micOn = true;
    this.startedAt = null;
    this.endedAt = null;
    this.peakViewers = 0;
    this.record = false; // ask the server to record the live
  }

  onChange(fn) {
    this.changeFns.add(fn);
    return () => this.changeFns.delete(fn);
  }

  changed(what) {
    for (const fn of [...this.changeFns]) fn(what);
  }

  async preview() {
    if (this.stream) return;
    const stream = await openCamera({ facingMode: this.facingMode });
    if (this.status === "stopped") {
      stopStream(stream); // the page was left while the camera was starting
      throw new AppError("left", "");
    }
    this.stream = stream;
    this.tiles.setLocal(this.me, "You", this.stream);
    this.status = "preview";
    this.changed("status");
  }

  async goLive() {
    await this.preview();
    this.status = "starting";
    this.changed("status");
    const publisher = new Publisher(this.socket, this.stream, (state) => {
      this.connection = state;
      if (state === "failed" && this.status === "live") {
        this.onError(new AppError("publisher_lost", "Your video connection to the server was lost: the live will end unless it comes back."));
      }
      this.changed("connection");
    });
    this.publisher = publisher;
    try {
      this.liveId = await publisher.start({ record: this.record });
    } catch (error) {
      publisher.close();
      if (this.publisher === publisher) this.publisher = null;
      if (publisher.liveId) {
        // the server went live but this end failed (or the page was left): end it there too
        this.socket.request({ type: "live.end", live_id: publisher.liveId }).catch(() => {});
      }
      if (this.status !== "stopped") {
        this.status = "preview";
        this.changed("status");
      }
      throw error;
    }
    if (this.status === "stopped") {
      // the page was left while going live: end what just started
      this.socket.request({ type: "live.end", live_id: this.liveId }).catch(() => {});
      publisher.close();
      this.publisher = null;
      return;
    }
    this.room = new LiveRoom(this.socket, this.liveId, this.me, this.me);
    this.room.onError = this.onError;
    this.room.onChange((what) => {
      if (what === "participants") this.syncGuests();
      if (what === "viewers" || what === "participants") this.peakViewers = Math.max(this.peakViewers, this.room.audience);
      if (what === "ended") this.finish(this.room.ended);
    });
    this.startedAt = Date.now() / 1000;
    this.status = "live";
    this.changed("status");
  }

  syncGuests() {
    for (const user of this.room.participants) {
      if (user === this.me || this.guests.has(user)) continue;
      const view = new WhepViewer(this.liveId, user, (streamId, track) => {
        if (USER_ID.test(streamId) && streamId !== user) return; // someone else's tracks
        this.tiles.addTrack(user, `${user} (guest)`, track);
      });
      this.guests.set(user, view);
      view.start().catch((error) => {
        this.guests.delete(user);
        this.onError(error);
      });
    }
    for (const [user, view] of this.guests) {
      if (this.room.participants.has(user)) continue;
      view.close();
      this.guests.delete(user);
      this.tiles.remove(user);
    }
    this.changed("participants");
  }

  // Mutes or unmutes the microphone (the track stays, silent).
  setMic(on) {
    this.micOn = on;
    if (this.stream) for (const track of this.stream.getAudioTracks()) track.enabled = on;
    this.changed("mic");
  }

  // Switches between the front and the back camera.
  async flipCamera() {
    if (!this.stream) return;
    const next = this.facingMode === "user" ? "environment" : "user";
    const fresh = await openCamera({ facingMode: next, audio: false });
    const [track] = fresh.getVideoTracks();
    if (this.status === "stopped") {
      stopStream(fresh);
      return;
    }
    for (const old of this.stream.getVideoTracks()) {
      this.stream.removeTrack(old);
      old.stop();
    }
    this.stream.addTrack(track);
    if (this.publisher) await this.publisher.replaceVideoTrack(track);
    this.facingMode = next;
    this.tiles.setLocal(this.me, "You", this.stream);
    this.changed("camera");
  }

  async end() {
    if (this.status !== "live") return;
    const publisher = this.publisher;
    this.publisher = null;
    try {
      await publisher.end();
    } finally {
      this.finish("ended_by_host");
    }
  }

  finish(reason) {
    if (this.status === "ended" || this.status === "stopped") return;
    this.status = "ended";
    this.endReason = reason;
    this.endedAt = Date.now() / 1000;
    if (this.publisher) this.publisher.close();
    this.publisher = null;
    for (const view of this.guests.values()) view.close();
    this.guests.clear();
    stopStream(this.stream); // the live is over: the camera goes off with it
    this.stream = null;
    this.tiles.clear();
    if (reason === "host_connection_lost") {
      this.onError(new AppError("host_connection_lost", "Your live ended: the connection to the server was lost."));
    }
    this.changed("status");
  }

  // The page is left: end the live if it runs, and turn the camera and microphone off.
  stop() {
    if (this.status === "live") this.end().catch(this.onError);
    this.status = "stopped";
    if (this.publisher) this.publisher.close();
    this.publisher = null;
    for (const view of this.guests.values()) view.close();
    this.guests.clear();
    if (this.room) this.room.close();
    stopStream(this.stream);
    this.stream = null;
    this.tiles.clear();
  }

  async publisherStats() {
    const out = { packetsSent: 0, framesEncoded: 0, layerWidths: [], connectionState: this.connection };
    if (!this.publisher || !this.publisher.pc) return out;
    const stats = await this.publisher.pc.getStats();
    stats.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.packetsSent += s.packetsSent || 0;
        out.framesEncoded += s.framesEncoded || 0;
        out.layerWidths.push(s.frameWidth || 0);
      }
    });
    out.layerWidths.sort((a, b) => b - a);
    return out;
  }
}
