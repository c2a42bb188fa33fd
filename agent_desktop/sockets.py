"""Socket.IO handlers: only logged-in users connect; each joins its own room."""
from __future__ import annotations

import logging

from flask_login import current_user
from flask_socketio import SocketIO, emit, join_room

from agent_desktop import users, wallboard_feed
from agent_desktop.filters import iso_utc
from agent_desktop.notifier import AGENT_STATE_EVENT, FLOOR_ROOM, SUPERVISORS_ROOM, agent_room, timing
from cti.agent_state import AgentState

log = logging.getLogger(__name__)


def register(socketio: SocketIO) -> None:
    @socketio.on("connect")
    def on_connect(auth=None):
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("unauthorized")
        join_room(agent_room(current_user.id))
        if current_user.is_supervisor:
            join_room(SUPERVISORS_ROOM)
        if current_user.works_floor:
            join_room(FLOOR_ROOM)   # abandoned-call list changes
        # The state may have changed between the page load and this connection.
        me = users.get_user(current_user.id)
        if me is not None:
            data = {"agent_id": me.id, "state": me.state, "reason": me.state_reason,
                    "since": iso_utc(me.state_since)}
            if me.state == AgentState.WRAP_UP.value:
                data.update(timing(me.state_until))
            emit(AGENT_STATE_EVENT, data)
        return True

    # Wallboard and dashboard pages (agent_desktop.wallboard_feed): any logged-in user.
    @socketio.on(wallboard_feed.JOIN_EVENT)
    def on_wallboard_join(_data=None):
        if not current_user.is_authenticated:
            return False
        wallboard_feed.join()
        return True
