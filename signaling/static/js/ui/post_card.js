// A photo or video post in a thread: shown inline at the column's width, with a like button,
// the comments, and counts kept current by `post.liked` / `post.comment` events.
import { api, blobUrl, enc } from "../api.js";
import { avatar, h, replace } from "../dom.js";
import { icon } from "../icons.js";
import { sentence } from "../errors.js";

export class PostCard {
  constructor(post, { me, from, onError }) {
    this.post = post;
    this.me = me;
    this.onError = onError;
    this.liked = false;
    this.likes = post.likes;
    this.commentCount = post.comments;
    this.url = null;
    this.open = false;
    this.shownComments = new Set();
    const image = post.media && post.media.mime_type.startsWith("image/");
    const what = post.kind === "recording" ? "a recorded live video" : image ? "a photo" : "a video";
    this.label = `${from === me ? "You" : from} sent ${what}`;
    this.media = h("div", { class: "post-media" });
    if (post.media && post.media.width && post.media.height) {
      this.media.style.aspectRatio = `${post.media.width} / ${post.media.height}`;
    }
    this.likeButton = h("button", {
      class: "link post-like", type: "button", "data-testid": "post-like", "aria-pressed": "false",
      "aria-label": "Like", onclick: () => this.toggleLike(),
    }, "♡");
    this.likeCount = h("span", { class: "count", "data-testid": "post-likes" });
    this.commentButton = h("button", {
      class: "link", type: "button", "data-testid": "post-comment-toggle", "aria-expanded": "false",
      "aria-label": "Comments", onclick: () => this.toggleComments(),
    }, icon("comment"));
    this.commentCountEl = h("span", { class: "count", "data-testid": "post-comments" });
    this.comments = h("ul", { class: "post-comments", "data-testid": "post-comment-list", hidden: true });
    this.input = h("input", { name: "post-comment", placeholder: "Add a comment…", maxlength: "2000", autocomplete: "off", "aria-label": "Comment on this post" });
    this.form = h("form", {
      class: "post-comment-form", hidden: true,
      onsubmit: (event) => {
        event.preventDefault();
        this.sendComment();
      },
    }, this.input, h("button", { type: "submit", class: "small" }, "Post"));
    this.el = h("div", { class: "post-card", dataset: { postId: post.post_id } },
      h("span", { class: "sr-only" }, this.label),
      this.media,
      post.caption ? h("p", { class: "text caption" }, post.caption) : null,
      h("div", { class: "post-bar" }, this.likeButton, this.likeCount, this.commentButton, this.commentCountEl),
      this.comments,
      this.form,
    );
    this.renderCounts();
    this.load();
  }

  async load() {
    const post = this.post;
    try {
      const likes = await api.get(`/api/posts/${enc(post.post_id)}/likes`);
      this.liked = likes.users.includes(this.me);
      this.likes = likes.count;
      this.renderCounts();
      if (!post.media) {
        replace(this.media, h("p", { class: "muted" }, this.label));
        return;
      }
      this.url = await blobUrl(post.media.url);
      const image = post.media.mime_type.startsWith("image/");
      replace(this.media, image
        ? h("img", { src: this.url, alt: post.caption || this.label, width: post.media.width, height: post.media.height })
        : h("video", { src: this.url, controls: true, playsInline: true, preload: "metadata", "aria-label": post.caption || this.label }));
    } catch (error) {
      replace(this.media, h("p", { class: "error" }, sentence(error)));
    }
  }

  renderCounts() {
    this.likeButton.textContent = this.liked ? "♥" : "♡";
    this.likeButton.setAttribute("aria-pressed", String(this.liked));
    this.likeCount.textContent = `${this.likes} ${this.likes === 1 ? "like" : "likes"}`;
    this.commentCountEl.textContent = `${this.commentCount} ${this.commentCount === 1 ? "comment" : "comments"}`;
  }

  async toggleLike() {
    const want = !this.liked;
    try {
      const path = `/api/posts/${enc(this.post.post_id)}/like`;
      const answer = want ? await api.put(path) : await api.del(path);
      this.liked = answer.liked;
      this.likes = answer.likes;
      this.renderCounts();
    } catch (error) {
      this.onError(error);
    }
  }

  async toggleComments() {
    this.open = !this.open;
    this.comments.hidden = !this.open;
    this.form.hidden = !this.open;
    this.commentButton.setAttribute("aria-expanded", String(this.open));
    if (!this.open) return;
    try {
      const page = await api.get(`/api/posts/${enc(this.post.post_id)}/comments?limit=50`);
      for (const c of page.comments.slice().reverse()) this.addComment(c, false);
      this.input.focus();
    } catch (error) {
      this.onError(error);
    }
  }

  async sendComment() {
    const text = this.input.value.trim();
    if (!text) return;
    try {
      const comment = await api.post(`/api/posts/${enc(this.post.post_id)}/comments`, { text });
      this.input.value = "";
      this.addComment(comment, true);
    } catch (error) {
      this.onError(error);
    }
  }

  addComment(c, counts) {
    if (this.shownComments.has(c.id)) return;
    this.shownComments.add(c.id);
    if (counts) this.commentCount += 1;
    this.renderCounts();
    this.comments.append(h("li", { dataset: { commentId: c.id } }, avatar(c.from, "xs"), h("span", {}, h("b", {}, c.from), " ", c.text)));
  }

  // -- pushed events ---------------------------------------------------------------------------
  onLiked(event) {
    if (event.user === this.me) this.liked = event.liked;
    this.likes = event.likes;
    this.renderCounts();
  }

  commented(comment) {
    if (this.shownComments.has(comment.id)) return;
    if (this.open) this.addComment(comment, true);
    else {
      this.commentCount += 1;
      this.renderCounts();
    }
  }

  close() {
    if (this.url) URL.revokeObjectURL(this.url);
  }
}
