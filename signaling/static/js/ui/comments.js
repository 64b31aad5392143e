// Live comments and reactions for a LiveRoom: the list, a composer, a like button, and
// hearts floating over the video.
import { h, replace } from "../dom.js";

export function commentsPanel(room, { moderate = false, onError, overlay }) {
  const list = h("ol", { class: "comments", "data-testid": "comments", "aria-live": "polite" });
  const input = h("input", {
    name: "comment", placeholder: "Add a comment…", maxlength: "300", autocomplete: "off",
  });
  const send = h("button", { type: "submit" }, "Send");
  const like = h("button", {
    type: "button", class: "like", title: "Like", "aria-label": "Like",
    onclick: () => {
      try {
        room.react("like");
        float(overlay, "♥");
      } catch (error) {
        onError(error);
      }
    },
  }, "♥");
  const form = h("form", {
    class: "composer",
    onsubmit: async (event) => {
      event.preventDefault();
      const text = input.value;
      send.disabled = true;
      try {
        await room.comment(text);
        input.value = "";
      } catch (error) {
        onError(error);
      } finally {
        send.disabled = false;
      }
    },
  }, input, send, like);
  const off = h("p", { class: "muted", hidden: true }, "Comments are turned off.");

  function render() {
    replace(list, room.comments.map((c) => h(
      "li",
      { dataset: { commentId: c.comment_id } },
      h("b", {}, c.user),
      " ",
      h("span", { class: "text" }, c.text),
      moderate && c.user !== room.me
        ? h("button", {
          class: "link small", title: "Remove comment",
          onclick: () => room.send("comment.remove", { comment_id: c.comment_id }).catch(onError),
        }, "✕")
        : null,
    )));
    list.scrollTop = list.scrollHeight;
    const closed = room.settings.comments === false;
    off.hidden = !closed;
    input.disabled = closed;
  }
  const offChange = room.onChange((what) => {
    if (what === "comments" || what === "settings") render();
  });
  const offReaction = room.onReaction((r) => {
    if (r.user !== room.me) float(overlay, "♥");
  });
  render();
  return {
    el: h("section", { class: "panel comments-panel" }, h("h3", {}, "Comments"), list, off, form),
    close() {
      offChange();
      offReaction();
    },
  };
}

function float(overlay, symbol) {
  if (!overlay) return;
  const heart = h("span", { class: "float-heart", style: `left:${10 + Math.random() * 70}%` }, symbol);
  overlay.append(heart);
  setTimeout(() => heart.remove(), 2000);
}
