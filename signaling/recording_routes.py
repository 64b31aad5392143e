"""HTTP API of recorded lives (``docs/protocol.md``, Recordings and direct posts).

The host's archive, sharing a recording with users, and replay: ``GET`` of a file answers
HTTP range requests (aiohttp's ``FileResponse``), under the live's privacy rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from directlive.errors import BadRequest, Conflict, NotFound
from fanout.post_models import Recording
from signaling.appkeys import CONFIG, FANOUT, RECORDINGS, USER
from signaling.http_body import query_limit, read_json


def recording_json(recording: Recording) -> dict[str, object]:
    base = f"/api/recordings/{recording.live_id}/files"
    return {
        "live_id": recording.live_id,
        "host": recording.host,
        "state": recording.state,
        "failure": recording.failure or None,
        "started_at": recording.started_at,
        "ended_at": recording.ended_at or None,
        "participants": list(recording.participants),
        "files": [
            {
                "name": f.name,
                "participant": f.participant,
                "mime_type": f.mime_type,
                "codecs": list(f.codecs),
                "size": f.size,
                "duration": f.duration,
                "url": f"{base}/{f.name}",
            }
            for f in recording.files
        ],
    }


def paging(request: web.Request) -> tuple[str, int]:
    """``?cursor=&limit=`` as the social API pages (``bad_limit`` outside 1..max)."""
    config = request.app[FANOUT].config
    limit = query_limit(request, config.page_limit, config.max_page)
    return request.query.get("cursor", ""), limit


async def json_object(request: web.Request) -> Mapping[str, Any]:
    raw = await read_json(request, request.app[CONFIG].max_json_bytes)
    if not isinstance(raw, dict):
        raise BadRequest("the body must be a JSON object", code="bad_body")
    return raw


def recording_file(request: web.Request, recording: Recording, name: str) -> web.FileResponse:
    """One file of a finished recording, with range support; only files it lists are served."""
    if recording.state == "recording":
        raise Conflict("the live is still being recorded", code="recording_in_progress")
    listed = next((f for f in recording.files if f.name == name), None)
    path: Path = request.app[RECORDINGS].recorder.path_of(recording.live_id, name)
    if listed is None or not path.is_file():
        raise NotFound(f"no file {name} in this recording", code="file_not_found")
    return web.FileResponse(path, headers={"Content-Type": listed.mime_type})


async def get_archive(request: web.Request) -> web.Response:
    me = request[USER]
    await request.app[FANOUT].ensure_user(me)
    cursor, limit = paging(request)
    page = await request.app[RECORDINGS].recordings.archive(me, cursor, limit)
    return web.json_response(
        {"recordings": [recording_json(r) for r in page.items], "next_cursor": page.next_cursor}
    )


async def get_recording(request: web.Request) -> web.Response:
    recordings = request.app[RECORDINGS].recordings
    recording = await recordings.viewable(request[USER], request.match_info["live_id"])
    return web.json_response(recording_json(recording))


async def share_recording(request: web.Request) -> web.Response:
    body = await json_object(request)
    users = body.get("users")
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise BadRequest("users must be a list of ids", code="bad_field")
    if not users:
        raise BadRequest("name at least one user", code="no_targets")
    me = request[USER]
    await request.app[FANOUT].ensure_user(me)
    await request.app[RECORDINGS].recordings.share(me, request.match_info["live_id"], users)
    return web.json_response({"ok": True})


async def get_file(request: web.Request) -> web.FileResponse:
    recordings = request.app[RECORDINGS].recordings
    recording = await recordings.viewable(request[USER], request.match_info["live_id"])
    return recording_file(request, recording, request.match_info["name"])


def add_recording_routes(app: web.Application) -> None:
    """Register the recording endpoints (the app holds ``RECORDINGS``; requests ``USER``)."""
    r = app.router
    r.add_get("/api/recordings", get_archive)
    r.add_get("/api/recordings/{live_id}", get_recording)
    r.add_post("/api/recordings/{live_id}/share", share_recording)
    r.add_get("/api/recordings/{live_id}/files/{name}", get_file)
