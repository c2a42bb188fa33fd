"""A managed Asterisk for tests: ``with managed_asterisk("mytest") as ast: ...``.

The Asterisk root is ``var/asterisk-root`` in the repository (built on first
use, ~20 s) or ``$HAPPYCALL_TEST_ASTERISK_ROOT``.  Prompts are generated once
into ``var/test-prompts``.  Ports are picked free on 127.0.0.1 for every instance,
so tests can run several instances at once.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator

from ivr.pbx.instance import ManagedAsterisk
from ivr.pbx.provision import ensure_root

from .sipp import free_port

REPO = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("happycall.tests.asterisk")


def test_root() -> Path:
    return Path(os.environ.get("HAPPYCALL_TEST_ASTERISK_ROOT") or REPO / "var" / "asterisk-root")


def test_prompts_dir(generate: bool = True) -> Path:
    path = REPO / "var" / "test-prompts"
    if generate:
        from ivr.prompts import generate as generate_prompts
        generate_prompts(path)
    return path


def asterisk_config(**overrides: Any) -> dict[str, Any]:
    """An [asterisk] configuration section with free ports on 127.0.0.1."""
    rtp_start = free_port(count=200, even=True, low=30000, high=60000)
    cfg: dict[str, Any] = {
        "mode": "managed",
        "root": str(test_root()),
        "ari_url": "",
        "ari_user": "happycall",
        "ari_password": "",
        "app_name": "happycall",
        "http_port": free_port(udp=False, tcp=True),
        "sip_port": free_port(),
        "rtp_start": rtp_start,
        "rtp_end": rtp_start + 199,
        "ars_lines": {"1600": "ko", "1601": "en"},
    }
    cfg.update(overrides)
    return cfg


@contextlib.contextmanager
def managed_asterisk(tmp_name: str, agent_phones: list[dict[str, str]] | None = None,
                     prompts: bool = True, start_timeout: float = 30,
                     **port_overrides: Any) -> Iterator[ManagedAsterisk]:
    """Start a ManagedAsterisk named ``test-<tmp_name>`` and stop it afterwards.

    ``port_overrides`` are [asterisk] keys (http_port, sip_port, rtp_start,
    ars_lines, app_name, ...).
    """
    root = ensure_root(test_root(), log=LOG.info)
    cfg = asterisk_config(root=str(root), **port_overrides)
    name = "test-" + re.sub(r"[^A-Za-z0-9_.-]", "-", tmp_name)[:50]
    ast = ManagedAsterisk(cfg, instance_dir_name=name,
                          prompts_dir=test_prompts_dir() if prompts else None,
                          agent_phones=agent_phones)
    ast.stop()  # a leftover of an interrupted run with the same name
    ast.start(timeout=start_timeout)
    try:
        yield ast
    finally:
        ast.stop()
