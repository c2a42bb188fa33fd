"""Serve the desktop app in a background thread.

Werkzeug's threaded WSGI server with Flask-SocketIO in ``threading`` mode: the
Socket.IO websocket transport works through simple-websocket, which takes over
the request's socket (``environ['werkzeug.socket']``).

``stop()`` leaves nothing running: it disconnects the Socket.IO clients, stops
Socket.IO's background task, stops accepting, shuts down the sockets of the
connections still open (keep-alive HTTP, websockets) so their handler threads
return, and joins the serving thread and every handler thread.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Optional

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    # HTTP/1.1 keep-alive, set on our own class (werkzeug's make_server would set
    # it on WSGIRequestHandler itself, for every server in the process).
    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-") -> None:  # quiet: Python logging, not stderr
        log.debug("%s %s %s", self.address_string(), self.requestline, code)

    def run_wsgi(self) -> None:
        self.server.request_started()
        try:
            super().run_wsgi()
        finally:
            self.server.request_finished()

    def connection_dropped(self, error, environ=None) -> None:
        # simple-websocket ends a websocket by raising ConnectionError: the
        # connection is done, do not read the client's last frames as HTTP.
        self.close_connection = True


class _Server(ThreadedWSGIServer):
    """Keeps track of its connections and joins their threads on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args, **kwargs):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._active_requests = 0
        self._idle = threading.Condition()
        super().__init__(*args, **kwargs)

    def request_started(self) -> None:
        with self._idle:
            self._active_requests += 1

    def request_finished(self) -> None:
        with self._idle:
            self._active_requests -= 1
            self._idle.notify_all()

    def wait_requests_done(self, timeout: float) -> bool:
        """Wait until no request is running (idle keep-alive connections do not count)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active_requests == 0, timeout)

    def process_request(self, request, client_address):
        # Pops are small websocket frames sent back to back (agent_state, then the
        # screenpop): with Nagle's algorithm the second waits for the client's
        # delayed ACK, up to 40 ms (measured by bench/screenpop.py).
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not a TCP socket
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class WebServer:
    """``WebServer(app, host, port)``; port 0 picks a free port (see ``.port``/``.url``)."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self._requested_port = port
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> "WebServer":
        """Bind, serve in a thread, and return once the port accepts connections."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        try:
            self._server = _Server(self.host, self._requested_port, self.app, handler=_RequestHandler)
        except SystemExit:  # werkzeug exits when it cannot bind
            raise OSError(f"cannot listen on {self.host}:{self._requested_port}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"desktop-web:{self.port}")
        self._thread.start()
        self._wait_accepting(timeout)
        log.info("agent desktop serving on %s", self.url)
        return self

    def _wait_accepting(self, timeout: float) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                pass
        except OSError as exc:
            self.stop()
            raise RuntimeError(f"the desktop server did not accept connections: {exc}") from exc

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        socketio = self.app.extensions.get("socketio")
        if socketio is not None and socketio.server is not None:
            self._disconnect_clients(socketio.server.eio)
            # Let the websockets and long-polls deliver the close packet and end.
            server.wait_requests_done(min(timeout, 3.0))
        if thread is not None and thread.is_alive():
            server.shutdown()  # no more accepts once this returns
        # Werkzeug's serve_forever() ends with server_close(), which joins the
        # handler threads: end their connections so they return.
        server.close_connections()
        if thread is not None:
            thread.join(timeout)
        if socketio is not None and socketio.server is not None:
            eio = socketio.server.eio
            if eio.service_task_event is not None:
                socketio.server.shutdown()  # joins engine.io's ping/timeout task
                # A later start() of the same app restarts the task on the first client.
                eio.service_task_event = None
                eio.start_service_task = True
        server.server_close()
        self._server = self._thread = None
        if thread is not None and thread.is_alive():
            raise RuntimeError("the desktop server thread did not stop")
        log.info("agent desktop stopped")

    @staticmethod
    def _disconnect_clients(eio) -> None:
        """Send every Engine.IO client a close packet.  (``eio.disconnect()`` waits
        on the socket's queue without a bound, which can hang when a websocket
        ends at the same time.)"""
        for sock in list(eio.sockets.values()):
            try:
                sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("closing an Engine.IO socket failed", exc_info=True)
        eio.sockets.clear()

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
