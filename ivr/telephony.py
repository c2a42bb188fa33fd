"""The telephony port: the few ARI operations the flows use.

``AriTelephony`` implements it on an asyncari client; unit tests use a fake.
Operations on a channel that is already gone raise ``ChannelGone`` so flows
can tell a hung-up caller from a real failure.
"""
from __future__ import annotations

import logging
from typing import Optional, Protocol

log = logging.getLogger(__name__)


class ChannelGone(Exception):
    pass


class Telephony(Protocol):
    async def answer(self, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str, playback_id: str, lang: str = "") -> None: ...
    async def stop_playback(self, playback_id: str) -> None: ...
    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...
    async def start_moh(self, channel_id: str) -> None: ...
    async def stop_moh(self, channel_id: str) -> None: ...
    async def ring(self, channel_id: str) -> None: ...
    async def originate(self, channel_id: str, endpoint: str, app_args: str, caller_id: str,
                        timeout: int) -> None: ...
    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def list_channel_ids(self) -> set[str]: ...
    async def app_channel_ids(self) -> set[str]: ...
    async def startup_time(self) -> Optional[str]: ...


def _is_gone(exc: Exception) -> bool:
    text = str(exc).lower()
    cause = exc.__cause__
    status = getattr(getattr(cause, "response", None), "status_code", None)
    return status == 404 or "not found" in text or "not in stasis" in text


class AriTelephony:
    """Telephony over an asyncari client."""

    def __init__(self, client, app_name: str):
        self._ari = client
        self._app = app_name

    async def _call(self, op, **kwargs):
        try:
            return await op(**kwargs)
        except Exception as exc:  # asyncari wraps HTTP errors in OperationError
            if _is_gone(exc):
                raise ChannelGone(str(exc)) from exc
            raise

    async def answer(self, channel_id: str) -> None:
        await self._call(self._ari.channels.answer, channelId=channel_id)

    async def play(self, channel_id: str, media: str, playback_id: str, lang: str = "") -> None:
        kwargs = {"channelId": channel_id, "media": media, "playbackId": playback_id}
        if lang:
            kwargs["lang"] = lang
        await self._call(self._ari.channels.playWithId, **kwargs)

    async def stop_playback(self, playback_id: str) -> None:
        try:
            await self._call(self._ari.playbacks.stop, playbackId=playback_id)
        except ChannelGone:
            pass  # already finished

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        try:
            await self._call(self._ari.channels.hangup, channelId=channel_id, reason=reason)
        except ChannelGone:
            pass

    async def start_moh(self, channel_id: str) -> None:
        await self._call(self._ari.channels.startMoh, channelId=channel_id)

    async def stop_moh(self, channel_id: str) -> None:
        try:
            await self._call(self._ari.channels.stopMoh, channelId=channel_id)
        except ChannelGone:
            pass

    async def ring(self, channel_id: str) -> None:
        await self._call(self._ari.channels.ring, channelId=channel_id)

    async def originate(self, channel_id: str, endpoint: str, app_args: str, caller_id: str,
                        timeout: int) -> None:
        await self._ari.channels.originateWithId(
            channelId=channel_id, endpoint=endpoint, app=self._app, appArgs=app_args,
            callerId=caller_id, timeout=timeout)

    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._ari.bridges.createWithId(bridgeId=bridge_id, type="mixing")
        await self._call(self._ari.bridges.addChannel, bridgeId=bridge_id, channel=",".join(channel_ids))

    async def destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self._call(self._ari.bridges.destroy, bridgeId=bridge_id)
        except ChannelGone:
            pass

    async def list_channel_ids(self) -> set[str]:
        channels = await self._ari.channels.list()
        return {c.id for c in channels}

    async def app_channel_ids(self) -> set[str]:
        app = await self._ari.applications.get(applicationName=self._app)
        data = app if isinstance(app, dict) else getattr(app, "json", {})
        return {cid for cid in data.get("channel_ids", [])}

    async def startup_time(self) -> Optional[str]:
        info = await self._ari.asterisk.getInfo()
        data = info if isinstance(info, dict) else getattr(info, "json", {})
        return (data.get("status") or {}).get("startup_time")


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
