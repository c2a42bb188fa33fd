"""ARI's REST calls over plain HTTP/1.1 keep-alive connections.

Every call step sends a few ARI requests (answer, play, stop, originate, bridge,
hang up).  Through asyncari's swagger operations and httpx one request cost about
as much Python CPU as the database work of the same step (bench/acd_load.py
profile: 19 % of the process).  ARI's requests are simple — a method, a path,
query parameters, at most a small JSON body — and Asterisk answers with a
``Content-Length``, so a small client on asyncio streams does the job for a
fraction of that.

Connections are kept open and reused (at most ``max_connections`` at once, so
Asterisk's ``session_limit`` is never reached).  A connection is put back only
after a complete answer; one that was cancelled or broken midway is closed.  A
reused connection that Asterisk closed while idle is retried once on a new one
(nothing had reached Asterisk: the answer was empty).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, Optional
from urllib.parse import quote, urlencode, urlsplit

import anyio

log = logging.getLogger(__name__)


class AriHttpError(Exception):
    """Asterisk answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: bytes):
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        message = body[:200].decode("utf-8", "replace").strip()
        super().__init__(f"ARI {method} {path}: HTTP {status} {message}")


class _StaleConnection(Exception):
    """A reused connection was closed by Asterisk before it answered."""


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class AriRest:
    def __init__(self, base_url: str, user: str, password: str, max_connections: int = 16,
                 timeout: float = 10.0):
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme == "https":
            raise ValueError("ARI over https is not supported; Asterisk's ARI listens on loopback http")
        self._prefix = parts.path.rstrip("/") + "/ari"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._head = (f"Host: {self._host}:{self._port}\r\n"
                      f"Authorization: Basic {token}\r\n"
                      "Accept: application/json\r\n").encode()
        self._idle: list[_Connection] = []
        self._slots = anyio.Semaphore(max_connections)
        self._timeout = timeout
        self._closed = False

    async def call(self, method: str, path: str, params: Optional[dict[str, Any]] = None,
                   body: Any = None) -> Any:
        """One request; the decoded JSON answer (None for an empty one).
        Raises AriHttpError for a status >= 300."""
        status, data = await self.request(method, path, params, body)
        if status >= 300:
            raise AriHttpError(method, path, status, data)
        if not data:
            return None
        return json.loads(data)

    async def request(self, method: str, path: str, params: Optional[dict[str, Any]] = None,
                      body: Any = None) -> tuple[int, bytes]:
        message = self._message(method, path, params, body)
        async with self._slots:
            with anyio.fail_after(self._timeout):
                for _ in range(2):
                    conn, reused = await self._connection()
                    try:
                        status, data, keep = await self._exchange(conn, message, reused)
                    except _StaleConnection:
                        conn.close()
                        continue
                    except BaseException:
                        conn.close()   # midway: the connection's state is unknown
                        raise
                    if keep and not self._closed:
                        self._idle.append(conn)
                    else:
                        conn.close()
                    return status, data
        raise ConnectionError(f"ARI {method} {path}: Asterisk closed the connection twice")

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _message(self, method: str, path: str, params: Optional[dict[str, Any]], body: Any) -> bytes:
        target = self._prefix + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urlencode(query, quote_via=quote)
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {target} HTTP/1.1\r\n".encode() + self._head
        if payload:
            head += b"Content-Type: application/json\r\n"
        return head + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload

    async def _connection(self) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn, True
            conn.close()
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return _Connection(reader, writer), False

    @staticmethod
    async def _exchange(conn: _Connection, message: bytes, reused: bool) -> tuple[int, bytes, bool]:
        conn.writer.write(message)
        try:
            await conn.writer.drain()
            head = await conn.reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            partial = getattr(exc, "partial", b"")
            if reused and not partial:
                raise _StaleConnection() from exc
            raise ConnectionError(f"ARI connection broken: {exc!r}") from exc
        except asyncio.LimitOverrunError as exc:
            raise ConnectionError("ARI answer header too long") from exc
        status, headers = _parse_head(head)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = await _read_chunked(conn.reader)
        else:
            length = int(headers.get("content-length", "0") or 0)
            data = await conn.reader.readexactly(length) if length else b""
        keep = headers.get("connection", "").lower() != "close"
        return status, data, keep


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ConnectionError(f"ARI answered something that is not HTTP: {lines[0][:80]!r}") from exc
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")   # (no trailers from Asterisk) the final empty line
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
