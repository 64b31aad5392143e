// Video tiles stacked in the portrait frame, one per participant (the host's first).
// Each remote tile is measured as it is laid out: one rendered under SMALL_TILE_PX CSS pixels
// wide, or off-screen, is "small", and `onSmall(key, small)` lets the page ask the server for
// that picture's lowest layer (and for any layer again once it grows or comes back).
import { h } from "../dom.js";

export const SMALL_TILE_PX = 240;

export class Tiles {
  constructor() {
    this.el = h("div", { class: "tiles", "data-testid": "tiles" });
    this.tiles = new Map();
    this.muted = false;
    this.onBlocked = () => {};
    this.onSmall = () => {};
    const tileOf = (el) => this.tiles.get(el.dataset.user);
    this.sizes = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const tile = tileOf(entry.target);
        if (tile) this.measure(tile, { width: entry.contentRect.width });
      }
    });
    this.visibility = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const tile = tileOf(entry.target);
        if (tile) this.measure(tile, { onScreen: entry.isIntersecting });
      }
    });
  }

  measure(tile, seen) {
    Object.assign(tile, seen);
    if (tile.local || tile.width === null) return;
    const small = !tile.onScreen || tile.width < SMALL_TILE_PX;
    if (small === tile.small) return; // a new tile reports its first state, small or not
    tile.small = small;
    this.onSmall(tile.key, small);
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
      tile = { key, el, video, stream: new MediaStream(), local, width: null, onScreen: true, small: null };
      video.srcObject = tile.stream;
      this.tiles.set(key, tile);
      this.el.append(el);
      if (!local) {
        this.sizes.observe(el);
        this.visibility.observe(el);
      }
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
    this.sizes.unobserve(tile.el);
    this.visibility.unobserve(tile.el);
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
      width: t.width,
      small: t.small,
    }));
  }

  clear() {
    for (const key of this.keys()) this.remove(key);
  }
}
