"""The ``played`` fixture: every playback the ARI application starts on Asterisk."""
from __future__ import annotations

import threading

import pytest

from ivr.telephony import AriTelephony


@pytest.fixture
def played(monkeypatch):
    """(channel id, media) of every playback the application starts on Asterisk."""
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    original = AriTelephony.play

    async def play(self, channel_id, media, playback_id, lang=""):
        with lock:
            log.append((channel_id, media))
        return await original(self, channel_id, media, playback_id, lang)

    monkeypatch.setattr(AriTelephony, "play", play)
    return log
