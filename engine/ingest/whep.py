"""WebRTC cameras through WHEP (RFC 9725): one HTTP POST of an SDP offer, then RTP over ICE.

WHEP is how WebRTC media servers (MediaMTX, Janus, Cloudflare, many camera gateways) hand out a
stream without a signalling protocol of their own. aiortc receives and decodes the video in its own
worker thread; the conversion of each kept frame to a BGR array runs in a thread too, so the event
loop only shuffles references. The session resource (the answer's Location) is deleted on close,
so the server frees the stream at once instead of waiting for ICE to time out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from .frame import Frame
from .rate_cap import RateCap
from .source import Source, StreamEnded
from .urls import expand_credentials, whep_endpoint

log = logging.getLogger(__name__)


class WhepError(ConnectionError):
    """The WHEP endpoint refused the offer or answered something that is not an SDP answer."""


class WhepSource(Source):
    """A camera behind a WHEP endpoint (`whep+http(s)://host/path`); `bearer_token` for protected ones."""

    def __init__(self, url: str, *, bearer_token: str | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.bearer_token = bearer_token

    async def _session(self) -> AsyncIterator[Frame]:
        endpoint = expand_credentials(whep_endpoint(self.url))
        headers = {"Content-Type": "application/sdp"}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {expand_credentials(self.bearer_token)}"
        pc = RTCPeerConnection()
        track_ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video" and not track_ready.done():
                track_ready.set_result(track)

        timeout = aiohttp.ClientTimeout(total=self.open_timeout_s)
        resource: str | None = None
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                pc.addTransceiver("video", direction="recvonly")
                await pc.setLocalDescription(await pc.createOffer())  # gathers ICE candidates
                async with http.post(endpoint, data=pc.localDescription.sdp, headers=headers) as resp:
                    if resp.status not in (200, 201):
                        raise WhepError(f"WHEP endpoint answered HTTP {resp.status}")
                    answer = await resp.text()
                    location = resp.headers.get("Location")
                    resource = urljoin(endpoint, location) if location else None
                if "v=0" not in answer:
                    raise WhepError("WHEP endpoint did not answer with SDP")
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
                async with asyncio.timeout(self.open_timeout_s):
                    track = await track_ready
                async for frame in self._frames(track):
                    yield frame
            finally:
                auth = {"Authorization": headers["Authorization"]} if self.bearer_token else {}
                # shielded: a stop that cancels twice must not leave the server's session behind
                await asyncio.shield(_teardown(pc, resource, auth))

    async def _frames(self, track: Any) -> AsyncIterator[Frame]:
        cap = RateCap(self.max_fps)
        while True:
            try:
                video_frame = await track.recv()
            except MediaStreamError:
                raise StreamEnded("WebRTC track ended") from None
            if not cap.admit(time.monotonic()):
                self.health.skipped("rate")
                continue
            image = await asyncio.to_thread(video_frame.to_ndarray, format="bgr24")
            yield Frame(image=image, captured_at=time.time(), seq=self._next_seq())


async def _teardown(pc: RTCPeerConnection, resource: str | None, headers: dict[str, str]) -> None:
    """End the WHEP session (DELETE, so the server frees the stream now) and close the peer."""
    if resource:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http,
                http.delete(resource, headers=headers),
            ):
                pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("WHEP session delete failed: %s", exc)
    await pc.close()
