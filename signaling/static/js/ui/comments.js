// Live comments and reactions for a LiveRoom, overlaid on the video: the newest comments with
// avatars, a composer (off when the host turns comments off), a heart button, floating hearts.
import { avatar, h, replace } from "../dom.js";
import { floatHeart } from "./live_view.js";

export function commentsPanel(room, { moderate = false, onError, overlay, extra = [] }) {
  const list = h("ol", { class: "comments", "data-testid": "comments", "aria-live": "polite", "aria-label": "Comments" });
  const input = h("input", {
    name: "comment", placeholder: "Add a comment…", maxlength: "300", autocomplete: "off",
    "aria-label": "Add a comment", enterkeyhint: "send",
  });
  const send = h("button", { type: "submit", class: "round", "aria-label": "Send comment" }, "➤");
  const like = h("button", {
    type: "button", class: "like round", title: "Like", "aria-label": "Send a heart",
    onclick: () => {
      try {
        room.react("like");
        floatHeart(overlay);
      } catch (error) {
        onError(error);
      }
    },
  }, "♥");
  let sending = false;
  const form = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      if (sending || !input.value.trim() || room.settings.comments === false) return;
      const text = input.value;
      sending = true;
      send.disabled = true;
      try {
        await room.comment(text);
        if (input.value === text) input.value = "";
      } catch (error) {
        onError(error);
        if (error.code === "rate_limited" || error.code === "comments_off") input.value = "";
      } finally {
        sending = false;
        renderClosed();
      }
    },
  }, input, send);

  function renderClosed() {
    const closed = room.settings.comments === false;
    input.disabled = closed;
    send.disabled = closed || sending;
    input.placeholder = closed ? "Comments are turned off" : "Add a comment…";
  }

  function render() {
    replace(list, room.comments.slice(-30).map((c) => h(
      "li",
      { dataset: { commentId: c.comment_id } },
      avatar(c.user, "xs"),
      h("span", { class: "body" }, h("b", {}, c.user), h("span", { class: "text" }, c.text)),
      moderate && c.user !== room.me
        ? h("button", {
          class: "link small", "aria-label": `Remove ${c.user}'s comment`,
          onclick: () => room.send("comment.remove", { comment_id: c.comment_id }).catch(onError),
        }, "✕")
        : null,
    )));
    list.scrollTop = list.scrollHeight;
    renderClosed();
  }
  const offChange = room.onChange((what) => {
    if (what === "comments" || what === "settings") render();
  });
  const offReaction = room.onReaction((r) => {
    if (r.user !== room.me) floatHeart(overlay);
  });
  render();
  return {
    list,
    actions: h("div", { class: "live-actions comments-panel" }, form, like, ...extra),
    close() {
      offChange();
      offReaction();
    },
  };
}
