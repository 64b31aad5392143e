// WebRTC: the camera, publishing (socket live.start, or live.publish as a guest), watching
// (socket watch, renegotiated by session.offer when participants come and go), and WHEP for
// the host to see a guest. Offers are sent once ICE gathering is complete (no trickle).
import { AppError } from "./errors.js";
import { api, getToken } from "./api.js";

const GATHER_TIMEOUT_MS = 5000;
// Refusals that retrying cannot fix.
const FINAL = new Set([
  "live_ended", "live_not_found", "private_account", "blocked", "request_pending",
  "request_declined", "thread_not_found", "not_member", "codec_unsupported", "live_full",
  "removed_by_host", "user_not_found",
]);

export function isFinal(error) {
  return FINAL.has(error && error.code);
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS); // send what we have
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function offerOf(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return pc.localDescription.sdp;
}

export async function openCamera({ facingMode = "user", video = true, audio = true } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new AppError("camera_missing", "this browser offers no camera access (is the page on http://localhost or https?)");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      video: video && { width: { ideal: 640 }, height: { ideal: 480 }, facingMode },
      audio,
    });
  } catch (error) {
    if (error.name === "NotAllowedError") throw new AppError("camera_denied", error.message);
    if (error.name === "NotFoundError") throw new AppError("camera_missing", error.message);
    throw new AppError("camera_error", `camera: ${error.message}`);
  }
}

export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

// STUN/TURN servers from GET /api/ice-servers (TURN credentials expire, so each new
// connection fetches them again); none if the call fails.
let iceServers = [];
async function refreshIceServers() {
  try {
    iceServers = (await api.get("/api/ice-servers")).ice_servers;
  } catch {
    iceServers = [];
  }
}

// Every peer connection of the app is made here (one place for its configuration).
function newPeerConnection() {
  return new RTCPeerConnection({ iceServers });
}

// The camera is published as three layers (docs/protocol.md "Layered publishing"): one
// transceiver each, all in the camera's stream, the top first. Viewers on weak links get a
// lower one.
const LAYERS = [
  { scaleResolutionDownBy: 1, maxBitrate: 900_000 },
  { scaleResolutionDownBy: 2, maxBitrate: 300_000 },
  { scaleResolutionDownBy: 4, maxBitrate: 100_000 },
];

// One transceiver per layer; a browser that refuses per-transceiver encodings sends fewer
// layers, or one plain video track.
function addVideo(pc, track, stream) {
  let added = 0;
  try {
    for (const encoding of LAYERS) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream], sendEncodings: [encoding] });
      added += 1;
    }
  } catch {
    if (added === 0) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  }
}

function sendingPc(stream, onState) {
  const pc = newPeerConnection();
  for (const track of stream.getTracks()) {
    if (track.kind === "video") addVideo(pc, track, stream);
    else pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  }
  pc.onconnectionstatechange = () => onState(pc.connectionState);
  return pc;
}

// The host's connection: `start()` goes live and resolves with the live id.
export class Publisher {
  constructor(socket, stream, onState = () => {}) {
    this.socket = socket;
    this.stream = stream;
    this.onState = onState;
    this.pc = null;
    this.liveId = null;
  }

  async start({ record = false } = {}) {
    await refreshIceServers();
    this.pc = sendingPc(this.stream, (state) => this.onState(state));
    const message = { type: "live.start", sdp: await offerOf(this.pc) };
    if (record) message.record = true;
    const reply = await this.socket.request(message);
    this.liveId = reply.live_id; // live on the server from here, even if what follows fails
    await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    return this.liveId;
  }

  async end() {
    const liveId = this.liveId;
    this.close();
    if (liveId) await this.socket.request({ type: "live.end", live_id: liveId });
  }

  // The camera was flipped: every layer sends the new track in place of the old one, no
  // renegotiation.
  async replaceVideoTrack(track) {
    if (!this.pc) return;
    const senders = this.pc.getSenders().filter((s) => s.track && s.track.kind === "video");
    await Promise.all(senders.map((sender) => sender.replaceTrack(track)));
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }
}

// A viewer accepted as co-broadcaster publishes into the host's live.
export class GuestPublisher {
  constructor(socket, liveId, stream, onState = () => {}) {
    this.socket = socket;
    this.liveId = liveId;
    this.stream = stream;
    this.onState = onState;
    this.pc = null;
  }

  async start() {
    await refreshIceServers();
    this.pc = sendingPc(this.stream, (state) => this.onState(state));
    const sdp = await offerOf(this.pc);
    const reply = await this.socket.request({ type: "live.publish", live_id: this.liveId, sdp });
    await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }

  async leave() {
    this.close();
    await this.socket.request({ type: "guest.leave", live_id: this.liveId });
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    stopStream(this.stream);
  }
}

function receivingPc(onTrack) {
  const pc = newPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (event) => {
    const stream = event.streams[0];
    onTrack(stream ? stream.id : "", event.track);
  };
  return pc;
}

export async function receiveStats(pc) {
  const out = { framesDecoded: 0, bytesReceived: 0, audioPackets: 0, connectionState: "new" };
  if (!pc) return out;
  out.connectionState = pc.connectionState;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    out.bytesReceived += s.bytesReceived || 0;
    if (s.kind === "video") out.framesDecoded += s.framesDecoded || 0;
    if (s.kind === "audio") out.audioPackets += s.packetsReceived || 0;
  });
  return out;
}

// Watches a live over the socket. A dropped connection is re-established (a new session,
// with backoff) until the live ends or the watch is refused for good.
export class Viewer {
  constructor({ socket, liveId, viaThread, onTrack, onState = () => {}, onError = () => {} }) {
    Object.assign(this, { socket, liveId, viaThread, onTrack, onState, onError });
    this.pc = null;
    this.sessionId = null;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.lostTimer = null;
    this.offSocket = socket.on("session.offer", (m) => this.renegotiate(m));
    // A hidden page asks for the lowest layer of a layered picture, a visible one for any;
    // a small or off-screen tile for the lowest layer of its participant's picture.
    this.maxLayer = document.hidden ? 0 : null;
    // participant -> max_layer asked for: kept when a tile goes, so a returning guest's new
    // (large) tile lifts a cap the server still holds for that name.
    this.participantLayers = new Map();
    this.onVisibility = () => this.setMaxLayer(document.hidden ? 0 : null).catch(() => {});
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  async setMaxLayer(maxLayer) {
    if (maxLayer === this.maxLayer) return;
    this.maxLayer = maxLayer;
    if (!this.sessionId || this.stopped) return;
    await this.socket.request({
      type: "layer",
      live_id: this.liveId,
      session_id: this.sessionId,
      max_layer: maxLayer,
    });
  }

  // Caps one participant's pictures (`null`: no cap); kept for every later session too.
  async setParticipantLayer(participant, maxLayer) {
    if ((this.participantLayers.get(participant) ?? null) === maxLayer) return;
    if (maxLayer === null) this.participantLayers.delete(participant);
    else this.participantLayers.set(participant, maxLayer);
    if (this.sessionId && !this.stopped) await this.sendParticipantLayer(participant, maxLayer);
  }

  async sendParticipantLayer(participant, maxLayer) {
    try {
      await this.socket.request({
        type: "layer",
        live_id: this.liveId,
        session_id: this.sessionId,
        max_layer: maxLayer,
        participant,
      });
    } catch (error) {
      // The participant left, or the session was replaced: there is nothing left to cap.
      if (!["participant_not_found", "session_not_found"].includes(error.code)) throw error;
    }
  }

  async start() {
    this.stopped = false;
    await this.connect();
  }

  async connect() {
    await refreshIceServers();
    if (this.stopped) return;
    const pc = receivingPc((streamId, track) => this.onTrack(streamId, track));
    this.pc = pc;
    pc.onconnectionstatechange = () => this.connectionChanged(pc);
    this.onState("connecting");
    const sdp = await offerOf(pc);
    const message = { type: "watch", live_id: this.liveId, sdp };
    if (this.viaThread) message.via_thread = this.viaThread;
    if (this.maxLayer !== null) message.max_layer = this.maxLayer;
    let reply;
    try {
      reply = await this.socket.request(message);
    } catch (error) {
      pc.close();
      if (this.pc === pc) this.pc = null;
      throw error;
    }
    if (this.stopped || this.pc !== pc) return;
    this.sessionId = reply.session_id;
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    for (const [participant, maxLayer] of this.participantLayers) {
      this.sendParticipantLayer(participant, maxLayer).catch(() => {}); // best effort
    }
  }

  async renegotiate(message) {
    if (message.live_id !== this.liveId || message.session_id !== this.sessionId || !this.pc) return;
    try {
      const pc = this.pc;
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await this.socket.request({
        type: "session.answer",
        live_id: this.liveId,
        session_id: this.sessionId,
        sdp: pc.localDescription.sdp,
      });
    } catch (error) {
      this.onError(new AppError("renegotiation_failed", `adding a participant failed: ${error.message}`));
    }
  }

  connectionChanged(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    this.onState(state);
    clearTimeout(this.lostTimer);
    if (state === "connected") this.attempt = 0;
    if (state === "failed") this.reconnect();
    if (state === "disconnected") this.lostTimer = setTimeout(() => this.reconnect(), 3000);
  }

  reconnect() {
    if (this.stopped) return;
    this.dropConnection();
    this.onState("reconnecting");
    const delay = Math.min(8000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(async () => {
      try {
        await this.connect();
      } catch (error) {
        if (isFinal(error)) {
          this.stopped = true;
          this.onError(error);
        } else {
          this.onState("reconnecting");
          this.reconnect();
        }
      }
    }, delay);
  }

  dropConnection() {
    const { pc, sessionId } = this;
    this.pc = null;
    this.sessionId = null;
    if (pc) pc.close();
    if (sessionId) {
      this.socket
        .request({ type: "leave", live_id: this.liveId, session_id: sessionId }, 3000)
        .catch(() => {}); // the session may already be gone with the live: nothing to undo
    }
  }

  stop() {
    this.stopped = true;
    document.removeEventListener("visibilitychange", this.onVisibility);
    clearTimeout(this.retryTimer);
    clearTimeout(this.lostTimer);
    this.offSocket();
    this.dropConnection();
  }

  stats() {
    return receiveStats(this.pc);
  }
}

// WHEP (HTTP) viewer of one participant: the host uses it to see a guest.
export class WhepViewer {
  constructor(liveId, participant, onTrack) {
    this.liveId = liveId;
    this.participant = participant;
    this.onTrack = onTrack;
    this.pc = null;
    this.location = null;
    this.maxLayer = null;
  }

  async start() {
    await refreshIceServers();
    this.pc = receivingPc((streamId, track) => this.onTrack(streamId, track));
    const sdp = await offerOf(this.pc);
    const url = `/whep/${encodeURIComponent(this.liveId)}?participant=${encodeURIComponent(this.participant)}`;
    const response = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${getToken()}`, "Content-Type": "application/sdp" },
      body: sdp,
    });
    const body = await response.text();
    if (response.status !== 201) {
      let code = `http_${response.status}`;
      try {
        code = JSON.parse(body).error.code;
      } catch {
        // not JSON: keep the status
      }
      throw new AppError(code, `watching ${this.participant}: ${response.status}`);
    }
    this.location = response.headers.get("Location");
    await this.pc.setRemoteDescription({ type: "answer", sdp: body });
  }

  // Caps this session's layers over the socket (the host's small tile of a guest).
  async setMaxLayer(socket, maxLayer) {
    if (!this.location || maxLayer === this.maxLayer) return;
    this.maxLayer = maxLayer;
    await socket.request({
      type: "layer",
      live_id: this.liveId,
      session_id: this.location.split("/").pop(),
      max_layer: maxLayer,
    });
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.location) {
      fetch(this.location, { method: "DELETE", headers: { Authorization: `Bearer ${getToken()}` } })
        .catch(() => {}); // leaving a session that may have ended with the live
      this.location = null;
    }
  }
}
