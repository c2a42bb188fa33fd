"""The project-managed Asterisk: a Debian sid root (``provision``) and instances run from it (``instance``).

``from ivr.pbx import ManagedAsterisk, ensure_root`` works; the submodules are
imported on first use so that ``python -m ivr.pbx.provision`` runs cleanly.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ManagedAsterisk": "instance",
    "AsteriskStartError": "instance",
    "ensure_root": "provision",
    "ProvisionError": "provision",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
