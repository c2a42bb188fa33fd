"""Per-app services, kept on ``app.extensions`` (no module-level state)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from flask_socketio import SocketIO
from sqlalchemy.orm import sessionmaker

from cti.events import EventBus
from cti.sensitivity import SensitivityService
from cti.services import CallCenter

if TYPE_CHECKING:  # pragma: no cover
    from agent_desktop.notifier import DesktopNotifier

EXTENSION_KEY = "happycall_desktop"


@dataclass
class DesktopContext:
    call_center: CallCenter
    sessions: sessionmaker
    bus: EventBus
    socketio: SocketIO
    notifier: "DesktopNotifier"
    sensitivity: SensitivityService


def services() -> DesktopContext:
    """The current app's services (inside a request or Socket.IO handler)."""
    return current_app.extensions[EXTENSION_KEY]
