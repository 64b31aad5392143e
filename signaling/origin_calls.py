"""Calls an edge node makes to a live's origin node: internal HTTP, signed with the node key
(``signaling.node_calls``), so a guest connected to any node publishes to the origin. The
origin's SDP answer comes back unchanged: its candidates are the origin's, so the guest's media
goes straight there."""

from __future__ import annotations

import json

from directlive.errors import DirectliveError, NotFound, Unavailable
from signaling.errors_http import STATUS
from signaling.node_calls import NodeCalls

GUEST_PATH = "/internal/guest/{live_id}"
GUEST_CANDIDATE_PATH = "/internal/guest/{live_id}/candidate"
END_PATH = "/internal/live/{live_id}/end"


def guest_path(live_id: str) -> str:
    return GUEST_PATH.format(live_id=live_id)


class OriginCalls:
    def __init__(self, nodes: NodeCalls) -> None:
        self._nodes = nodes

    async def origin_url(self, live_id: str) -> str | None:
        """The URL of the live's origin when it is another node than this one, else None;
        ``Unavailable`` when that node's heartbeat stopped."""
        origin = await self._nodes.directory.origin(live_id)
        if origin is None or origin == self._nodes.node_id:
            return None
        url = await self._nodes.url_of(origin)
        if url is None:
            raise Unavailable("the live's origin node is not reachable", code="origin_unreachable")
        return url

    async def publish_guest(self, live_id: str, user: str, offer: str, whip: bool) -> str:
        """The origin's SDP answer to ``user``'s offer to publish as a guest."""
        return await self._call("POST", live_id, {"user": user, "sdp": offer, "whip": whip})

    async def remove_guest(self, live_id: str, actor: str, user: str) -> None:
        await self._call("DELETE", live_id, {"actor": actor, "user": user})

    async def add_guest_candidate(
        self, live_id: str, user: str, candidate: str, sdp_mid: str | None
    ) -> None:
        """Trickle ICE of a guest whose publish this node forwarded."""
        body: dict[str, object] = {"user": user, "candidate": candidate, "sdp_mid": sdp_mid}
        await self._call("POST", live_id, body, GUEST_CANDIDATE_PATH)

    async def end_live(self, live_id: str, user: str) -> None:
        """The host ended the live through this node: the origin ends it (its media is there)."""
        await self._call("POST", live_id, {"user": user}, END_PATH)

    async def _call(
        self, method: str, live_id: str, body: dict[str, object], template: str = GUEST_PATH
    ) -> str:
        url = await self.origin_url(live_id)
        if url is None:
            raise NotFound("no such live on this node", code="live_not_found")
        path = template.format(live_id=live_id)
        data = json.dumps(body).encode()
        answer = await self._nodes.call(
            url, method, path, data, unreachable_code="origin_unreachable"
        )
        if answer.status < 300:
            return answer.text
        raise _error_from(answer.status, answer.text)

    async def close(self) -> None:
        await self._nodes.close()


def _error_from(status: int, text: str) -> DirectliveError:
    """The origin's error as the same class and code (``errors_http`` wrote it)."""
    try:
        error = json.loads(text)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return Unavailable(f"the origin node answered {status}", code="origin_error")
    kind = next((k for k, s in STATUS if s == status), Unavailable)
    return kind(message, code=code)
