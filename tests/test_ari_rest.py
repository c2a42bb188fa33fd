"""ivr.ari_rest against a small HTTP server on loopback: requests as ARI expects them,
keep-alive reuse, answers with a length / chunked / Connection: close, errors, a stale
idle connection retried once, a cancelled request not leaving a broken connection behind."""
from __future__ import annotations

import asyncio
import base64
import json

import anyio
import pytest

from ivr.ari_rest import AriHttpError, AriRest
from ivr.telephony import AriTelephony, ChannelGone


class FakeAri:
    """Answers each request from ``self.answers`` (a callable per request) and records it."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections = 0
        self.answer = lambda method, target: (200, b'{"ok": true}', {})
        self.close_after_each = False
        self.server = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/"

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((method, target, headers, body))
                status, payload, extra = self.answer(method, target)
                if status is None:       # hang: the client gives up
                    await asyncio.sleep(30)
                    return
                out = f"HTTP/1.1 {status} X\r\n"
                if extra.get("chunked"):
                    out += "Transfer-Encoding: chunked\r\n\r\n"
                    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (payload[:3], payload[3:]) if c)
                    writer.write(out.encode() + chunks + b"0\r\n\r\n")
                else:
                    if extra.get("close"):
                        out += "Connection: close\r\n"
                    out += f"Content-Length: {len(payload)}\r\n\r\n"
                    writer.write(out.encode() + payload)
                await writer.drain()
                if extra.get("close") or self.close_after_each:
                    return
        finally:
            writer.close()

    async def stop(self):
        self.server.close()


def run(coro_fn):
    return anyio.run(coro_fn, backend="asyncio")


def test_request_line_auth_query_and_keep_alive():
    async def main():
        ari = FakeAri()
        url = await ari.start()
        rest = AriRest(url, "happy", "s3cret:x")
        tel = AriTelephony(rest, "happycall")
        await tel.play("chan 1/x", "sound:hello", "pb-1", lang="ko")
        await tel.originate("out-1", "PJSIP/3001", "agent,7", '"Desk" <1600>', 20)
        assert await rest.call("GET", "/asterisk/info") == {"ok": True}
        await rest.aclose()
        await ari.stop()
        return ari
    ari = run(main)
    (m1, t1, h1, b1), (m2, t2, _, _), (m3, t3, _, _) = ari.requests
    assert (m1, t1) == ("POST", "/ari/channels/chan%201%2Fx/play/pb-1?media=sound%3Ahello&lang=ko")
    assert h1["authorization"] == "Basic " + base64.b64encode(b"happy:s3cret:x").decode()
    assert b1 == b"" and h1["content-length"] == "0"
    assert m2 == "POST" and t2.startswith("/ari/channels/out-1?endpoint=PJSIP%2F3001&app=happycall")
    assert "appArgs=agent%2C7" in t2 and "timeout=20" in t2
    assert (m3, t3) == ("GET", "/ari/asterisk/info")
    assert ari.connections == 1          # one connection kept open and reused


def test_error_status_gone_and_json_body():
    async def main():
        ari = FakeAri()
        url = await ari.start()
        ari.answer = lambda method, target: (
            (404, b'{"message":"Channel not found"}', {}) if "gone" in target else
            (400, b'{"message":"Channel not in Stasis"}', {}) if "addChannel" in target else
            (500, b"boom", {}) if "answer" in target else (200, b"", {}))
        rest = AriRest(url, "u", "p")
        tel = AriTelephony(rest, "app")
        with pytest.raises(ChannelGone):
            await tel.ring("gone-1")
        await tel.hangup("gone-2")                      # hanging up a gone channel is fine
        with pytest.raises(ChannelGone):
            await tel.add_to_bridge("br", ["a", "b"])
        with pytest.raises(AriHttpError) as info:
            await tel.answer("c1")
        assert info.value.status == 500 and "boom" in str(info.value)
        assert await rest.call("POST", "/x", body={"variables": {"A": "1"}}) is None
        await rest.aclose()
        await ari.stop()
        return ari
    ari = run(main)
    method, target, headers, body = ari.requests[-1]
    assert json.loads(body) == {"variables": {"A": "1"}} and headers["content-type"] == "application/json"
    assert ari.connections == 1          # error answers keep the connection usable


def test_chunked_and_connection_close_answers():
    async def main():
        ari = FakeAri()
        url = await ari.start()
        rest = AriRest(url, "u", "p")
        ari.answer = lambda m, t: (200, b'[{"id": "c1"}, {"id": "c2"}]', {"chunked": True})
        assert await AriTelephony(rest, "app").list_channel_ids() == {"c1", "c2"}
        ari.answer = lambda m, t: (200, b'{"a": 1}', {"close": True})
        assert await rest.call("GET", "/one") == {"a": 1}
        assert await rest.call("GET", "/two") == {"a": 1}
        await rest.aclose()
        await ari.stop()
        return ari
    ari = run(main)
    assert ari.connections == 2          # the chunked one was reused once, then closed by the server


def test_idle_connection_closed_by_asterisk_is_retried_once():
    async def main():
        ari = FakeAri()
        ari.close_after_each = True      # the server drops every connection after one answer
        url = await ari.start()
        rest = AriRest(url, "u", "p")
        for _ in range(3):
            assert await rest.call("POST", "/channels/c1/answer") == {"ok": True}
            await asyncio.sleep(0.05)    # the server's close reaches the idle connection
        await rest.aclose()
        await ari.stop()
        return ari
    ari = run(main)
    assert len(ari.requests) == 3        # each request reached the server exactly once
    assert ari.connections == 3


def test_timeout_closes_the_connection_and_next_request_works():
    async def main():
        ari = FakeAri()
        url = await ari.start()
        rest = AriRest(url, "u", "p", timeout=0.3)
        ari.answer = lambda m, t: (None, b"", {}) if "slow" in t else (200, b"{}", {})
        with pytest.raises(TimeoutError):
            await rest.call("GET", "/slow")
        assert await rest.call("GET", "/fast") == {}
        await rest.aclose()
        await ari.stop()
        return ari
    ari = run(main)
    assert ari.connections == 2          # the half-used connection was not put back


def test_unreachable_asterisk_is_a_connection_error():
    async def main():
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        rest = AriRest(f"http://127.0.0.1:{port}/", "u", "p")
        with pytest.raises(OSError):
            await rest.call("GET", "/asterisk/info")
    run(main)
