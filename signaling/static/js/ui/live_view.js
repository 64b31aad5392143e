// The full-screen portrait frame shared by the viewer's and the host's live pages: video
// tiles underneath; host, LIVE badge, viewer count and timer on top; comments, hearts and
// thumb-reachable controls overlaid at the bottom.
import { avatar, clock, h, replace } from "../dom.js";

export function liveView({ host, label }) {
  const name = h("span", { class: "name" }, host);
  const who = h("div", { class: "who" }, avatar(host, "sm"), name);
  const badge = h("span", { class: "live-dot", hidden: true }, "LIVE");
  const count = h("span", { class: "pill", "data-testid": "viewer-count", hidden: true });
  const timer = h("span", { class: "pill", "data-testid": "live-timer", role: "timer", hidden: true });
  const right = h("div", { class: "live-top-actions" });
  const stage = h("div", { class: "stage" });
  const reactions = h("div", { class: "reactions", "aria-hidden": "true" });
  const banner = h("div", { class: "banner", role: "alert", hidden: true, "data-testid": "watch-banner" });
  const bottom = h("div", { class: "live-bottom" });
  const frame = h("div", { class: "live-frame" },
    stage, h("div", { class: "live-top" }, who, badge, count, timer, right), reactions, bottom, banner);
  const el = h("section", { class: "live-view", "aria-label": label }, frame);
  let tick = null;

  return {
    el, frame, stage, right, bottom, reactions, banner,
    setHost(user) {
      replace(who, avatar(user, "sm"), h("span", { class: "name" }, user));
    },
    setCount(n) {
      count.hidden = false;
      count.textContent = `${n} watching`;
    },
    // Shows LIVE and a running clock from `startedAt` (epoch seconds; now when unknown).
    setLive(startedAt) {
      badge.hidden = false;
      timer.hidden = false;
      const t0 = startedAt || Date.now() / 1000;
      const show = () => {
        const seconds = Date.now() / 1000 - t0;
        timer.textContent = clock(seconds);
        timer.setAttribute("aria-label", `live for ${clock(seconds)}`);
      };
      show();
      clearInterval(tick);
      tick = setInterval(show, 1000);
    },
    setOff() {
      badge.hidden = true;
      timer.hidden = true;
      count.hidden = true;
      clearInterval(tick);
    },
    refuse(code, text) {
      banner.hidden = false;
      banner.className = `banner ${code === "live_ended" ? "over" : "error"}`;
      banner.dataset.code = code || "";
      banner.textContent = text;
    },
    close() {
      clearInterval(tick);
    },
  };
}

export function floatHeart(overlay) {
  if (!overlay) return;
  const heart = h("span", { class: "float-heart", style: `left:${10 + Math.random() * 50}%` }, "♥");
  overlay.append(heart);
  setTimeout(() => heart.remove(), 2000);
}
