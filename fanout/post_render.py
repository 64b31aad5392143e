"""JSON of direct posts and their comments, as the API and the events show them."""

from __future__ import annotations

from fanout.post_models import Comment, Post


def post_json(post: Post, likes: int = 0, comments: int = 0) -> dict[str, object]:
    body: dict[str, object] = {
        "post_id": post.post_id,
        "thread_id": post.thread_id,
        "from": post.sender,
        "kind": post.kind,
        "sent_at": post.sent_at,
        "caption": post.caption,
        "likes": likes,
        "comments": comments,
    }
    if post.kind == "recording":
        body["live_id"] = post.live_id
    else:
        body["media"] = {
            "url": f"/api/posts/{post.post_id}/media",
            "mime_type": post.mime_type,
            "size": post.size,
            "width": post.width,
            "height": post.height,
            "duration": post.duration,
        }
    return body


def comment_json(comment: Comment) -> dict[str, object]:
    return {
        "id": str(comment.seq),
        "post_id": comment.post_id,
        "from": comment.author,
        "text": comment.text,
        "sent_at": comment.sent_at,
    }
