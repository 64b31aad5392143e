// One live as a room: comments, reactions, viewers, join requests, participants, settings.
// Host and viewers share it; pages render from it and call its actions.
import { api, enc } from "../api.js";
import { AppError } from "../errors.js";

const EVENTS = [
  "comment.new", "comment.removed", "reaction.new", "live.viewers", "join.requested",
  "join.accepted", "join.declined", "join.invited", "live.participant.added",
  "live.participant.removed", "live.settings", "live.evicted", "live.ended",
];

// What a room.join refuses once the page was in the room: the viewer lost access meanwhile.
const EVICTING = new Set(["removed_by_host", "blocked", "private_account", "request_pending"]);

export class LiveRoom {
  constructor(socket, liveId, me, host) {
    this.socket = socket;
    this.liveId = liveId;
    this.me = me;
    this.host = host;
    this.comments = [];
    this.commentIds = new Set();
    this.viewerCount = 0;
    this.viewers = [];
    // A live.viewers event heard since the last (re)connection is newer than any snapshot in
    // flight: across nodes the event can overtake the stored count a snapshot reads.
    this.countHeard = false;
    this.joinRequests = [];
    this.participants = new Set(host ? [host] : []);
    this.settings = { comments: true, joins: true };
    this.ended = null; // reason
    this.evicted = null; // code
    this.join = null; // null | requested | accepted | declined | invited
    this.changeFns = new Set();
    this.reactionFns = new Set();
    this.unsubscribe = [
      ...EVENTS.map((type) => socket.on(type, (m) => m.live_id === liveId && this.handle(m))),
      socket.on("resumed", () => {
        this.countHeard = false; // events were missed while disconnected: the snapshot counts
        this.resume();
      }),
    ];
    this.onError = () => {};
    this.sessionOf = null; // () => the page's viewer session id, if it watches over this socket
    this.onSessionElsewhere = null; // the new socket's node does not hold that session
  }

  onChange(fn) {
    this.changeFns.add(fn);
    return () => this.changeFns.delete(fn);
  }

  onReaction(fn) {
    this.reactionFns.add(fn);
    return () => this.reactionFns.delete(fn);
  }

  changed(what) {
    for (const fn of [...this.changeFns]) fn(what);
  }

  addComment(c) {
    if (this.commentIds.has(c.comment_id)) return false;
    this.commentIds.add(c.comment_id);
    this.comments.push(c);
    this.comments.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    if (this.comments.length > 200) this.comments.splice(0, this.comments.length - 200);
    return true;
  }

  handle(m) {
    switch (m.type) {
      case "comment.new":
        if (this.addComment(m)) this.changed("comments");
        break;
      case "comment.removed":
        this.comments = this.comments.filter((c) => c.comment_id !== m.comment_id);
        this.changed("comments");
        break;
      case "reaction.new":
        for (const fn of [...this.reactionFns]) fn(m);
        break;
      case "live.viewers":
        this.countHeard = true;
        this.viewerCount = m.count;
        if (Array.isArray(m.viewers)) this.setViewers(m.viewers);
        this.changed("viewers");
        break;
      case "join.requested":
        if (!this.joinRequests.includes(m.user)) this.joinRequests.push(m.user);
        this.changed("requests");
        break;
      case "join.accepted":
      case "join.declined":
        this.join = m.type === "join.accepted" ? "accepted" : "declined";
        this.changed("join");
        break;
      case "join.invited":
        this.join = "invited";
        this.invitedBy = m.from;
        this.changed("join");
        break;
      case "live.participant.added":
        this.participants.add(m.user);
        this.joinRequests = this.joinRequests.filter((u) => u !== m.user);
        this.changed("participants");
        break;
      case "live.participant.removed":
        this.participants.delete(m.user);
        if (m.user === this.me) this.join = null;
        this.changed("participants");
        break;
      case "live.settings":
        this.settings = { comments: m.comments, joins: m.joins };
        this.changed("settings");
        break;
      case "live.evicted":
        this.evicted = m.code;
        this.changed("evicted");
        break;
      case "live.ended":
        this.ended = m.reason || "ended";
        this.changed("ended");
        break;
    }
  }

  // After a reconnection the new socket is in no room (it may even be on another node): join
  // again, taking over the page's viewer session (sessionOf) so participant changes still
  // renegotiate it, then read what may have been missed. A refusal now (removed, blocked,
  // private) evicts the page; an ended live shows as ended from the re-read.
  resume() {
    if (this.ended || this.evicted) return;
    this.rejoin(this.sessionOf ? this.sessionOf() : null);
    this.loadState().catch(this.onError);
    this.loadRecent().catch(this.onError);
  }

  rejoin(sessionId) {
    const message = { type: "room.join", live_id: this.liveId };
    if (sessionId) message.session_id = sessionId;
    this.socket.request(message).catch((error) => {
      // The session is held by another node (the socket came back elsewhere) or just ended:
      // join without it, and let the page watch again here, where renegotiation can reach it.
      if (sessionId && ["session_not_found", "live_not_found"].includes(error.code)) {
        if (this.onSessionElsewhere) this.onSessionElsewhere();
        return this.rejoin(null);
      }
      if (error.code === "live_ended") return;
      if (!EVICTING.has(error.code)) return this.onError(error);
      this.evicted = error.code;
      this.changed("evicted");
    });
  }

  // GET /api/lives/{id}/room: settings, participants, count; the host's requests and viewers.
  async loadState() {
    const state = await api.get(`/api/lives/${enc(this.liveId)}/room`);
    if (state.settings) this.settings = state.settings;
    this.participants = new Set([state.host, ...(state.guests || [])]);
    if (Array.isArray(state.join_requests)) this.joinRequests = state.join_requests;
    if (!this.countHeard) {
      this.viewerCount = state.viewer_count;
      if (Array.isArray(state.viewers)) this.setViewers(state.viewers);
    }
    if (state.state === "ended" && !this.ended) this.ended = "ended";
    for (const what of ["settings", "participants", "viewers", "requests"]) this.changed(what);
    if (this.ended) this.changed("ended");
  }

  // Shown as "N watching": the viewers and the guests, who joined from the audience (the
  // server's count leaves publishers out, so a viewer who becomes a guest would vanish).
  get audience() {
    return this.viewerCount + Math.max(0, this.participants.size - 1);
  }

  // The host's list (and count) leaves out the host, who may watch a guest over WHEP.
  setViewers(viewers) {
    this.viewers = viewers.filter((u) => u !== this.me);
    this.viewerCount = this.viewers.length;
  }

  async loadRecent() {
    const reply = await this.socket.request({ type: "comments.recent", live_id: this.liveId, limit: 50 });
    let added = false;
    for (const c of reply.comments || []) added = this.addComment(c) || added;
    if (added) this.changed("comments");
  }

  // -- actions (each rejects with AppError) --------------------------------------------------
  async comment(text) {
    const trimmed = text.trim();
    if (!trimmed) throw new AppError("empty_text", "");
    return this.socket.request({ type: "comment", live_id: this.liveId, text: trimmed });
  }

  react(kind = "like") {
    if (!this.socket.send({ type: "reaction", live_id: this.liveId, kind })) {
      throw new AppError("disconnected", "");
    }
  }

  send(type, fields = {}) {
    return this.socket.request({ type, live_id: this.liveId, ...fields });
  }

  async requestJoin() {
    await this.send("join.request");
    this.join = "requested";
    this.changed("join");
  }

  async answerJoin(user, accept) {
    this.joinRequests = this.joinRequests.filter((u) => u !== user);
    this.changed("requests");
    await this.send(accept ? "join.accept" : "join.decline", { user });
  }

  close() {
    for (const off of this.unsubscribe) off();
    this.changeFns.clear();
    this.reactionFns.clear();
  }
}
