"""HTTP API of direct posts: photos, videos and recordings posted in a thread, with likes and
comments (``docs/protocol.md``, Recordings and direct posts).

An upload is streamed to ``data_dir/media/<post id>.part`` under the size limit, then opened
with PyAV (``recorder.probe``) in a thread; only an accepted file is renamed into place and
posted. A refused upload leaves no file and no post; the ``.part`` of one cut off by a crash is
removed at the next start (``remove_partial_uploads``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from directlive.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from fanout.post_models import Post
from fanout.post_render import comment_json, post_json
from fanout.posts import new_post_id
from recorder.probe import probe_upload
from signaling.appkeys import CONFIG, FANOUT, POSTS, RECORDINGS, USER
from signaling.recording_routes import json_object, paging, recording_file

log = logging.getLogger("directlive.signaling")
CHUNK = 64 * 1024


def _media_dir(request: web.Request) -> Path:
    return request.app[CONFIG].data_dir / "media"


def remove_partial_uploads(data_dir: Path) -> int:
    """Start-up: delete the ``.part`` files of uploads a crash cut off; returns how many."""
    removed = 0
    for part in (data_dir / "media").glob("*.part"):
        part.unlink(missing_ok=True)
        removed += 1
    return removed


async def _receive(request: web.Request, path: Path, limit: int) -> int:
    """Stream the body to ``path``; the caller removes it on any error."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"upload of {declared} bytes is over the {limit} byte limit")
    path.parent.mkdir(parents=True, exist_ok=True)
    received = 0
    with path.open("wb") as file:
        while True:
            try:
                chunk = await request.content.read(CHUNK)
            except (aiohttp.ClientPayloadError, aiohttp.http_exceptions.HttpProcessingError) as e:
                raise BadRequest(f"the upload was cut off: {e}", code="truncated_upload") from e
            if not chunk:
                break
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"upload over the {limit} byte limit")
            file.write(chunk)
    if received == 0:
        raise BadRequest("empty upload", code="bad_media")
    if declared is not None and received < declared:
        raise BadRequest(f"got {received} of {declared} bytes", code="truncated_upload")
    return received


async def _upload(request: web.Request, me: str, thread_id: str) -> Post:
    major = request.content_type.split("/")[0]
    if major not in ("image", "video"):
        raise UnsupportedMediaType(
            f"post a photo (image/*) or a video (video/*), not {request.content_type or 'none'}"
        )
    caption = request.query.get("caption", "")
    posts = request.app[POSTS]
    await posts.writable_thread(me, thread_id, caption)
    post_id = new_post_id()
    part = _media_dir(request) / f"{post_id}.part"
    final = _media_dir(request) / post_id
    try:
        size = await _receive(request, part, request.app[CONFIG].max_upload_bytes)
        info = await asyncio.to_thread(probe_upload, part)
        expected = "photo" if major == "image" else "video"
        if info.kind != expected:
            raise UnsupportedMediaType(f"sent as {request.content_type} but it is a {info.kind}")
        part.rename(final)
        draft = Post(post_id, thread_id, me, info.kind, 0, 0.0, caption, info.mime_type, size)
        draft = replace(
            draft, width=info.width, height=info.height, duration=round(info.duration, 3)
        )
        return await posts.publish(draft)
    except BaseException:
        part.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise


async def create_post(request: web.Request) -> web.Response:
    me, thread_id = request[USER], request.match_info["id"]
    await request.app[FANOUT].ensure_user(me)
    if request.content_type != "application/json":
        post = await _upload(request, me, thread_id)
        log.info("post user=%s thread=%s post=%s kind=%s", me, thread_id, post.post_id, post.kind)
        return web.json_response(post_json(post), status=201)
    body = await json_object(request)
    live_id, caption = body.get("recording"), body.get("caption", "")
    if not isinstance(live_id, str) or not live_id or not isinstance(caption, str):
        raise BadRequest("recording must be a live id, caption a string", code="bad_field")
    post = await request.app[POSTS].post_recording(me, thread_id, live_id, caption)
    return web.json_response(post_json(post), status=201)


async def list_posts(request: web.Request) -> web.Response:
    cursor, limit = paging(request)
    posts, next_cursor = await request.app[POSTS].page(
        request[USER], request.match_info["id"], cursor, limit
    )
    return web.json_response({"posts": posts, "next_cursor": next_cursor})


async def get_post(request: web.Request) -> web.Response:
    posts = request.app[POSTS]
    post, _ = await posts.readable(request[USER], request.match_info["post_id"])
    counts = await request.app[FANOUT].store.post_counts(post.post_id)
    return web.json_response(post_json(post, *counts))


async def get_media(request: web.Request) -> web.FileResponse:
    """The photo or video of a post; a recording post serves its files by name."""
    me = request[USER]
    post, _ = await request.app[POSTS].readable(me, request.match_info["post_id"])
    name = request.match_info.get("name")
    if post.kind == "recording":
        recordings = request.app[RECORDINGS].recordings
        recording = await recordings.viewable(me, post.live_id, reached=True)
        return recording_file(request, recording, name or "")
    path = _media_dir(request) / post.post_id
    if name is not None or not path.is_file():
        raise NotFound("no such media", code="file_not_found")
    return web.FileResponse(path, headers={"Content-Type": post.mime_type})


async def set_like(request: web.Request) -> web.Response:
    liked = request.method == "PUT"
    count = await request.app[POSTS].like(request[USER], request.match_info["post_id"], liked)
    return web.json_response({"ok": True, "liked": liked, "likes": count})


async def get_likes(request: web.Request) -> web.Response:
    users = await request.app[POSTS].likes(request[USER], request.match_info["post_id"])
    return web.json_response({"users": users, "count": len(users)})


async def add_comment(request: web.Request) -> web.Response:
    text = (await json_object(request)).get("text", "")
    if not isinstance(text, str):
        raise BadRequest("text must be a string", code="bad_field")
    comment = await request.app[POSTS].comment(request[USER], request.match_info["post_id"], text)
    return web.json_response(comment_json(comment), status=201)


async def list_comments(request: web.Request) -> web.Response:
    cursor, limit = paging(request)
    page = await request.app[POSTS].comments(
        request[USER], request.match_info["post_id"], cursor, limit
    )
    comments = [comment_json(c) for c in page.items]
    return web.json_response({"comments": comments, "next_cursor": page.next_cursor})


def add_post_routes(app: web.Application) -> None:
    """Register the direct post endpoints (the app holds ``POSTS``; requests ``USER``)."""
    r = app.router
    r.add_post("/api/threads/{id}/posts", create_post)
    r.add_get("/api/threads/{id}/posts", list_posts)
    r.add_get("/api/posts/{post_id}", get_post)
    r.add_get("/api/posts/{post_id}/media", get_media)
    r.add_get("/api/posts/{post_id}/media/{name}", get_media)
    r.add_put("/api/posts/{post_id}/like", set_like)
    r.add_delete("/api/posts/{post_id}/like", set_like)
    r.add_get("/api/posts/{post_id}/likes", get_likes)
    r.add_post("/api/posts/{post_id}/comments", add_comment)
    r.add_get("/api/posts/{post_id}/comments", list_comments)
