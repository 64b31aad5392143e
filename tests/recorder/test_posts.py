"""Direct posts over HTTP: members see a post, its likes and comments; nobody else does; a
refused upload leaves no file and no post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.recorder.helpers import api
from tests.recorder.media_files import mp4_bytes, opus_webm_bytes, png_bytes
from tests.server import RunningServer, running_server, server_config

LIMIT = 200_000


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, max_upload_bytes=LIMIT)) as running:
        yield running


async def upload(
    server: RunningServer, user: str, thread_id: str, data: object, content_type: str
) -> tuple[int, dict[str, object]]:
    headers = {**server.auth(user), "Content-Type": content_type}
    url = f"{server.url}/api/threads/{thread_id}/posts?caption=hello"
    async with server.http.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


async def crew(server: RunningServer) -> str:
    for user in ("alice", "bob", "carol"):
        await api(server, user, "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    status, thread = await api(
        server, "alice", "POST", "/api/threads", {"members": ["bob"], "name": "crew"}
    )
    assert status == 201
    return str(thread["thread_id"])


async def test_members_see_a_post_its_likes_and_comments_and_nobody_else(
    small_server: RunningServer, tmp_path: Path
) -> None:
    server = small_server
    thread_id = await crew(server)
    bob, carol = await server.socket("bob"), await server.socket("carol")
    try:
        photo = png_bytes()
        status, post = await upload(server, "alice", thread_id, photo, "image/png")
        assert status == 201, post
        assert (post["kind"], post["caption"]) == ("photo", "hello")
        assert post["media"] == {  # as PyAV read it
            "url": f"/api/posts/{post['post_id']}/media",
            "mime_type": "image/png",
            "size": len(photo),
            "width": 64,
            "height": 48,
            "duration": 0.0,
        }
        await bob.next_of("post.new", thread_id=thread_id)
        status, video = await upload(
            server, "bob", thread_id, mp4_bytes(tmp_path / "v.mp4"), "video/mp4"
        )
        assert (status, video["kind"]) == (201, "video")

        pid = post["post_id"]
        status, liked = await api(server, "bob", "PUT", f"/api/posts/{pid}/like")
        assert (status, liked["likes"]) == (200, 1)
        status, comment = await api(
            server, "bob", "POST", f"/api/posts/{pid}/comments", {"text": "nice"}
        )
        assert (status, comment["from"], comment["text"]) == (201, "bob", "nice")
        await bob.next_of("post.comment", post_id=pid)

        status, listed = await api(server, "alice", "GET", f"/api/threads/{thread_id}/posts")
        assert [p["post_id"] for p in listed["posts"]] == [video["post_id"], pid]
        assert (listed["posts"][1]["likes"], listed["posts"][1]["comments"]) == (1, 1)
        assert (await api(server, "alice", "GET", f"/api/posts/{pid}/likes"))[1]["users"] == ["bob"]
        comments = (await api(server, "alice", "GET", f"/api/posts/{pid}/comments"))[1]
        assert [c["text"] for c in comments["comments"]] == ["nice"]
        async with server.http.get(
            f"{server.url}/api/posts/{pid}/media", headers=server.auth("bob")
        ) as r:
            assert (r.status, r.headers["Content-Type"], await r.read()) == (
                200,
                "image/png",
                photo,
            )

        for method, path, body in [
            ("GET", f"/api/posts/{pid}", None),
            ("GET", f"/api/posts/{pid}/media", None),
            ("GET", f"/api/posts/{pid}/likes", None),
            ("GET", f"/api/posts/{pid}/comments", None),
            ("PUT", f"/api/posts/{pid}/like", None),
            ("POST", f"/api/posts/{pid}/comments", {"text": "me too"}),
            ("GET", f"/api/threads/{thread_id}/posts", None),
        ]:
            headers = server.auth("carol")
            async with server.http.request(
                method, server.url + path, headers=headers, json=body
            ) as r:
                assert r.status == 403, (method, path)
                assert (await r.json())["error"]["code"] == "not_member"
        status, likes = await api(server, "bob", "DELETE", f"/api/posts/{pid}/like")
        assert (status, likes["likes"]) == (200, 0)
        await bob.next_of("post.liked", post_id=pid, liked=False)
        assert not [m for m in carol.messages if str(m.get("type", "")).startswith("post.")]
    finally:
        await bob.close()
        await carol.close()


async def test_refused_uploads_are_precise_and_leave_nothing_behind(
    small_server: RunningServer, tmp_path: Path
) -> None:
    server = small_server
    thread_id = await crew(server)
    photo = png_bytes()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 10_000 + 2):
            yield b"\x00" * 10_000

    cases: list[tuple[object, str, int, str]] = [
        (b"\x00" * (LIMIT + 1), "video/mp4", 413, "payload_too_large"),
        (chunks(), "video/mp4", 413, "payload_too_large"),  # no Content-Length: counted
        (photo, "text/plain", 415, "unsupported_media_type"),
        (opus_webm_bytes(tmp_path / "a.webm"), "video/webm", 415, "unsupported_media_type"),
        (mp4_bytes(tmp_path / "v.mp4"), "image/png", 415, "unsupported_media_type"),
        (b"not a picture at all" * 50, "image/png", 400, "bad_media"),
        (photo[: len(photo) // 2], "image/png", 400, "truncated_upload"),
        (mp4_bytes(tmp_path / "w.mp4")[:-500], "video/mp4", 400, "truncated_upload"),
    ]
    for data, content_type, status, code in cases:
        got, body = await upload(server, "alice", thread_id, data, content_type)
        assert (got, body["error"]["code"]) == (status, code), (content_type, body)  # type: ignore[index]
    got, body = await upload(server, "carol", thread_id, photo, "image/png")
    assert (got, body["error"]["code"]) == (403, "not_member")  # type: ignore[index]

    media = tmp_path / "media"
    assert not media.exists() or list(media.iterdir()) == []
    status, listed = await api(server, "alice", "GET", f"/api/threads/{thread_id}/posts")
    assert (status, listed["posts"]) == (200, [])


async def test_a_post_reads_in_the_thread_messages_with_its_current_counts(
    small_server: RunningServer,
) -> None:
    server = small_server
    thread_id = await crew(server)
    status, _ = await api(
        server, "alice", "POST", f"/api/threads/{thread_id}/messages", {"text": "hi"}
    )
    assert status == 201
    await api(server, "bob", "POST", f"/api/threads/{thread_id}/read")
    bob = await server.socket("bob")
    try:
        status, post = await upload(server, "alice", thread_id, png_bytes(), "image/png")
        assert status == 201, post
        pid = post["post_id"]
        pushed: Any = await bob.next_of("message.new", thread_id=thread_id)
        assert pushed["message"]["kind"] == "post"
        assert pushed["message"]["post"] == post
        status, inbox = await api(server, "bob", "GET", "/api/inbox")
        assert [(t["thread_id"], t["unread"]) for t in inbox["threads"]] == [(thread_id, 1)]
        assert (await api(server, "bob", "GET", "/api/me"))[1]["unread_threads"] == 1
        await api(server, "bob", "PUT", f"/api/posts/{pid}/like")
        await api(server, "bob", "POST", f"/api/posts/{pid}/comments", {"text": "nice"})

        status, page = await api(server, "bob", "GET", f"/api/threads/{thread_id}/messages")
        assert status == 200
        newest, oldest = page["messages"]
        assert oldest["text"] == "hi"
        assert (newest["kind"], newest["from"], newest["post_id"]) == ("post", "alice", pid)
        assert newest["id"] == pushed["message"]["id"]
        assert newest["post"] == {**post, "likes": 1, "comments": 1}
        status, denied = await api(server, "carol", "GET", f"/api/threads/{thread_id}/messages")
        assert (status, denied["error"]["code"]) == (403, "not_member")
    finally:
        await bob.close()
