"""The receiving side of signed node-to-node calls (``directlive.node_keys``): a call counts
when a node of this deployment signed it recently and its nonce was never seen before. The
nonce is claimed in the node directory (Redis when nodes share one), so a captured call
replayed to any node is refused: ``401 replayed_node_call``, and nothing is done."""

from __future__ import annotations

import logging

from aiohttp import web

from directlive.errors import BadRequest, Unauthorized
from directlive.node_keys import SignedCall, verify_request
from signaling.appkeys import FANOUT, NODE_KEY
from signaling.json_input import parse_json

log = logging.getLogger("directlive.signaling")


async def signed_call(request: web.Request, body: bytes) -> SignedCall:
    """The verified call, its nonce claimed; ``Unauthorized`` otherwise."""
    headers = {k: v for k, v in request.headers.items()}
    call = verify_request(request.app[NODE_KEY], headers, request.method, request.path, body)
    if call is None:
        raise Unauthorized("not signed by a node of this deployment", code="bad_node_signature")
    if not await request.app[FANOUT].directory.claim_nonce(call.nonce, call.keep_nonce):
        log.warning(
            "replayed node call refused %s %s node=%s", request.method, request.path, call.node
        )
        raise Unauthorized("this node call was already made once", code="replayed_node_call")
    return call


async def signed_body(request: web.Request) -> dict[str, object]:
    """The JSON object body of a signed call (read, verified and claimed before parsing)."""
    body = await request.read()
    await signed_call(request, body)
    value = parse_json(body)
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="bad_body")
    return value
