// Video tiles stacked in the portrait frame, one per participant (the host's first).
import { h } from "../dom.js";

export class Tiles {
  constructor() {
    this.el = h("div", { class: "tiles", "data-testid": "tiles" });
    this.tiles = new Map();
    this.muted = false;
    this.onBlocked = () => {};
  }

  tile(key, label, { local = false } = {}) {
    let tile = this.tiles.get(key);
    if (!tile) {
      const video = h("video", {
        autoplay: true, playsInline: true, class: local ? "mirror" : "",
        "aria-label": local ? "Your camera" : `Video of ${label}`,
      });
      video.muted = local || this.muted;
      const el = h(
        "div",
        { class: "tile", dataset: { user: key } },
        video,
        h("span", { class: "tile-label" }, label),
      );
      tile = { el, video, stream: new MediaStream(), local };
      video.srcObject = tile.stream;
      this.tiles.set(key, tile);
      this.el.append(el);
    }
    return tile;
  }

  addTrack(key, label, track) {
    const tile = this.tile(key, label);
    for (const old of tile.stream.getTracks()) {
      if (old.kind === track.kind) tile.stream.removeTrack(old);
    }
    tile.stream.addTrack(track);
    track.addEventListener("ended", () => tile.stream.removeTrack(track));
    this.play(tile);
  }

  setLocal(key, label, stream) {
    const tile = this.tile(key, label, { local: true });
    tile.video.srcObject = stream;
    tile.video.muted = true;
    this.play(tile);
  }

  play(tile) {
    tile.video.play().catch((error) => {
      if (error.name !== "NotAllowedError" || tile.local) return; // superseded load: harmless
      console.warn(`autoplay refused: ${error.message}`);
      // Autoplay with sound was refused: play muted and offer to unmute.
      this.setMuted(true);
      tile.video.play().catch(() => {});
      this.onBlocked();
    });
  }

  setMuted(muted) {
    this.muted = muted;
    for (const tile of this.tiles.values()) if (!tile.local) tile.video.muted = muted;
  }

  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.el.remove();
    this.tiles.delete(key);
  }

  keys() {
    return [...this.tiles.keys()];
  }

  // For the page's status line and the tests: what each tile shows.
  describe() {
    return [...this.tiles.entries()].map(([user, t]) => ({
      user,
      local: t.local,
      videoWidth: t.video.videoWidth,
      videoHeight: t.video.videoHeight,
      paused: t.video.paused,
      muted: t.video.muted,
      currentTime: t.video.currentTime,
    }));
  }

  clear() {
    for (const key of this.keys()) this.remove(key);
  }
}
