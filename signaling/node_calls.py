"""Internal HTTP calls from this node to another node of the deployment, signed with the node
key (``directlive.node_keys``; the receiver checks them in ``signaling.node_auth``). Used for
calls to a live's origin (``signaling.origin_calls``) and for session follow-ups sent to the
node holding the session (``signaling.follow_up_routes``)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from directlive.errors import Unavailable
from directlive.node_keys import sign_request
from fanout.node_directory import NodeDirectory

CALL_TIMEOUT = 20.0


@dataclass(frozen=True)
class NodeAnswer:
    status: int
    text: str
    content_type: str


class NodeCalls:
    def __init__(self, directory: NodeDirectory, node_id: str, node_key: bytes) -> None:
        self.directory = directory
        self.node_id = node_id
        self._key = node_key
        self._http: aiohttp.ClientSession | None = None

    async def url_of(self, node: str) -> str | None:
        """Where ``node`` is reached, or None when its heartbeat stopped."""
        return await self.directory.node_url(node)

    async def call(
        self,
        url: str,
        method: str,
        path: str,
        body: bytes,
        *,
        unreachable_code: str,
        content_type: str = "application/json",
    ) -> NodeAnswer:
        """Send one signed request to the node at ``url``; its answer whatever the status.
        ``Unavailable`` (``unreachable_code``) when the node does not answer."""
        headers = sign_request(self._key, self.node_id, method, path, body)
        headers["Content-Type"] = content_type
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.request(
                method,
                url.rstrip("/") + path,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
            ) as response:
                text = await response.text()
                return NodeAnswer(response.status, text, response.content_type)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable("that node is not reachable", code=unreachable_code) from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
