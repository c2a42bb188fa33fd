"""The telephony port: the few ARI operations the flows use.

``AriTelephony`` implements it on ARI's REST interface; unit tests use a fake.
Operations on a channel that is already gone raise ``ChannelGone`` so flows
can tell a hung-up caller from a real failure.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Protocol
from urllib.parse import quote

from ivr.ari_rest import AriHttpError, AriRest

log = logging.getLogger(__name__)


class ChannelGone(Exception):
    pass


class Telephony(Protocol):
    async def answer(self, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str, playback_id: str, lang: str = "") -> None: ...
    async def stop_playback(self, playback_id: str) -> None: ...
    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...
    async def start_moh(self, channel_id: str, moh_class: str = "") -> None: ...
    async def stop_moh(self, channel_id: str) -> None: ...
    async def ring(self, channel_id: str) -> None: ...
    async def originate(self, channel_id: str, endpoint: str, app_args: str, caller_id: str,
                        timeout: int) -> None: ...
    async def subscribe_channel(self, channel_id: str) -> None: ...
    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                                   priority: int = 1) -> None: ...
    async def external_media(self, channel_id: str, external_host: str, fmt: str) -> None: ...
    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str, app_args: str) -> None: ...
    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def create_bridge(self, bridge_id: str) -> None: ...
    async def bridge_channel_ids(self, bridge_id: str) -> list[str]: ...
    async def list_channel_ids(self) -> set[str]: ...
    async def app_channel_ids(self) -> set[str]: ...
    async def startup_time(self) -> Optional[str]: ...


class AriTelephony:
    """Telephony over ARI's REST interface (``ivr.ari_rest.AriRest``).

    Each operation is one request whose path and parameters are those of ARI's
    REST API (docs.asterisk.org, "Asterisk REST Interface")."""

    def __init__(self, rest: AriRest, app_name: str):
        self._rest = rest
        self._app = app_name

    async def _op(self, method: str, path: str, gone_on_400: bool = False, **params) -> Any:
        try:
            return await self._rest.call(method, path, params)
        except AriHttpError as exc:
            # 404: no such channel/playback/bridge; 409/422: no longer in the application;
            # bridges' addChannel answers 400 for a channel that does not exist (any more).
            gone = exc.status in (404, 409, 422) or (exc.status == 400 and gone_on_400)
            if gone and path.startswith(("/channels", "/playbacks", "/bridges")):
                raise ChannelGone(str(exc)) from exc
            raise

    async def answer(self, channel_id: str) -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}/answer")

    async def play(self, channel_id: str, media: str, playback_id: str, lang: str = "") -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}/play/{_seg(playback_id)}",
                       media=media, lang=lang or None)

    async def stop_playback(self, playback_id: str) -> None:
        try:
            await self._op("DELETE", f"/playbacks/{_seg(playback_id)}")
        except ChannelGone:
            pass  # already finished

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        try:
            await self._op("DELETE", f"/channels/{_seg(channel_id)}", reason=reason)
        except ChannelGone:
            pass

    async def start_moh(self, channel_id: str, moh_class: str = "") -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}/moh", mohClass=moh_class or None)

    async def stop_moh(self, channel_id: str) -> None:
        try:
            await self._op("DELETE", f"/channels/{_seg(channel_id)}/moh")
        except ChannelGone:
            pass

    async def ring(self, channel_id: str) -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}/ring")

    async def originate(self, channel_id: str, endpoint: str, app_args: str, caller_id: str,
                        timeout: int) -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}", endpoint=endpoint, app=self._app,
                       appArgs=app_args, callerId=caller_id, timeout=timeout)

    async def subscribe_channel(self, channel_id: str) -> None:
        """Keep the application subscribed to a channel's events while it runs dialplan
        outside the application (answering-machine detection of the survey call)."""
        await self._op("POST", f"/applications/{_seg(self._app)}/subscription",
                       eventSource=f"channel:{channel_id}")

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str,
                                   priority: int = 1) -> None:
        await self._op("POST", f"/channels/{_seg(channel_id)}/continue", context=context,
                       extension=extension, priority=priority)

    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str, app_args: str) -> None:
        """A snoop channel on ``channel_id`` that enters the application: ``spy``
        (in/out/both/none) is what it hears, ``whisper`` what it says to the channel."""
        await self._op("POST", f"/channels/{_seg(channel_id)}/snoop/{_seg(snoop_id)}",
                       app=self._app, appArgs=app_args, spy=spy, whisper=whisper)

    async def external_media(self, channel_id: str, external_host: str, fmt: str) -> None:
        await self._op("POST", "/channels/externalMedia", channelId=channel_id, app=self._app,
                       external_host=external_host, format=fmt, encapsulation="rtp", transport="udp",
                       direction="both")

    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._op("POST", f"/bridges/{_seg(bridge_id)}", type="mixing")
        await self.add_to_bridge(bridge_id, channel_ids)

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._op("POST", f"/bridges/{_seg(bridge_id)}/addChannel", gone_on_400=True,
                       channel=",".join(channel_ids))

    async def destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self._op("DELETE", f"/bridges/{_seg(bridge_id)}")
        except ChannelGone:
            pass

    async def create_bridge(self, bridge_id: str) -> None:
        """An empty mixing bridge (a conference people are added to later)."""
        await self._op("POST", f"/bridges/{_seg(bridge_id)}", type="mixing", name=bridge_id)

    async def bridge_channel_ids(self, bridge_id: str) -> list[str]:
        """The channels in a bridge ([] when the bridge does not exist)."""
        try:
            bridge = await self._op("GET", f"/bridges/{_seg(bridge_id)}") or {}
        except ChannelGone:
            return []
        return list(bridge.get("channels") or [])

    async def list_channel_ids(self) -> set[str]:
        return {c["id"] for c in await self._op("GET", "/channels") or []}

    async def app_channel_ids(self) -> set[str]:
        app = await self._op("GET", f"/applications/{_seg(self._app)}") or {}
        return set(app.get("channel_ids", []))

    async def startup_time(self) -> Optional[str]:
        info = await self._op("GET", "/asterisk/info") or {}
        return (info.get("status") or {}).get("startup_time")


def _seg(value: str) -> str:
    """An id as one path segment."""
    return quote(value, safe="")


class LiveTelephony:
    """The telephony of the current ARI connection.

    Flows keep one object for their whole life; across a reconnection it
    forwards to the new client.  While disconnected, an operation waits (bounded)
    for the connection to come back instead of failing at once.
    """

    def __init__(self, wait_seconds: float = 10.0):
        import anyio

        self._anyio = anyio
        self._current: Optional[AriTelephony] = None
        self._up = anyio.Event()
        self._wait = wait_seconds

    def attach(self, telephony) -> None:
        self._current = telephony
        self._up.set()

    def detach(self) -> None:
        self._current = None
        if self._up.is_set():
            self._up = self._anyio.Event()

    @property
    def is_up(self) -> bool:
        return self._current is not None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args, **kwargs):
            if self._current is None:
                with self._anyio.fail_after(self._wait):
                    await self._up.wait()
            return await getattr(self._current, name)(*args, **kwargs)
        return call
