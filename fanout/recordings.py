"""Recorded lives as the social plane sees them: the host's archive, shares and who may replay.

The media plane writes the files; this keeps their record (``fanout.post_models.Recording``)
and the rule for replay, which is the live's rule: blocks by any participant are absolute, a
private host's recordings are for approved followers only, and beyond that a recording is
seen by its participants, by users the host shared it with, and by members of a thread it was
posted in (``reached``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from directlive.errors import Forbidden, NotFound
from fanout import policy
from fanout.models import Page
from fanout.post_models import Recording, RecordingFile, RecordingState
from fanout.store import Store


async def may_replay(store: Store, viewer: str, recording: Recording, reached: bool) -> None:
    """Blocks first, then privacy, then whether the recording reached the viewer."""
    if viewer == recording.host or viewer in recording.participants:
        return
    for participant in {recording.host, *recording.participants}:
        if (await store.relation(viewer, participant)).blocked_either:
            raise Forbidden("you cannot watch this recording", code="blocked")
    settings = await store.get_settings(recording.host)
    if settings.private and not (await store.relation(viewer, recording.host)).following:
        raise Forbidden(f"{recording.host} is private", code="private_account")
    if not reached and not await store.has_recording_grant(recording.live_id, viewer):
        raise Forbidden("this recording was not shared with you", code="not_shared")


class Recordings:
    def __init__(self, store: Store, node_id: str) -> None:
        self._store = store
        self._node = node_id

    async def begin(self, live_id: str, host: str) -> Recording:
        seq = await self._store.next_seq()
        recording = Recording(live_id, host, seq, self._node, started_at=time.time())
        await self._store.put_recording(recording)
        return recording

    async def add_participant(self, live_id: str, user: str) -> None:
        recording = await self.get(live_id)
        if user not in recording.participants:
            participants = (*recording.participants, user)
            await self._store.put_recording(replace(recording, participants=participants))

    async def stopped(self, live_id: str, failure: str) -> Recording:
        """Recording stopped early (disk full, write error); the live goes on."""
        recording = replace(await self.get(live_id), state="failed", failure=failure)
        await self._store.put_recording(recording)
        return recording

    async def complete(
        self, live_id: str, files: Sequence[RecordingFile], failure: str | None
    ) -> Recording:
        """The live ended and every file is final."""
        recording = await self.get(live_id)
        state: RecordingState = "failed" if failure or recording.failure else "finished"
        done = replace(
            recording,
            state=state,
            failure=failure or recording.failure,
            ended_at=time.time(),
            files=tuple(files),
        )
        await self._store.put_recording(done)
        return done

    async def unfinished(self) -> list[str]:
        """Lives recorded on this node whose files were never finalized."""
        return await self._store.unfinished_recordings(self._node)

    async def interrupted(
        self, live_id: str, files: Sequence[RecordingFile], ended_at: float
    ) -> Recording:
        """The server died mid-live: list the files as it left them (they play up to the
        crash). A recording still ``recording`` becomes ``interrupted``; one that had already
        failed stays ``failed`` with its cause."""
        recording = await self.get(live_id)
        state: RecordingState = "interrupted" if recording.state == "recording" else "failed"
        done = replace(
            recording,
            state=state,
            ended_at=ended_at or time.time(),
            files=tuple(files),
        )
        await self._store.put_recording(done)
        return done

    async def get(self, live_id: str) -> Recording:
        recording = await self._store.get_recording(live_id)
        if recording is None:
            raise NotFound(f"no recording of {live_id}", code="recording_not_found")
        return recording

    async def archive(self, host: str, cursor: str, limit: int) -> Page[Recording]:
        return await self._store.page_recordings(host, cursor, limit)

    async def viewable(self, viewer: str, live_id: str, *, reached: bool = False) -> Recording:
        """The recording, if ``viewer`` may replay it (a block is ``Forbidden blocked``)."""
        recording = await self.get(live_id)
        await may_replay(self._store, viewer, recording, reached)
        return recording

    async def share(self, host: str, live_id: str, users: Sequence[str]) -> None:
        recording = await self.get(live_id)
        if recording.host != host:
            raise Forbidden("only the host shares a recording", code="not_host")
        await policy.require_users(self._store, list(users))
        for user in users:
            await policy.may_message(self._store, host, user)
        await self._store.grant_recording(live_id, users)
