"""Secrets generated once and kept in the data folder (mode 600), for settings
left empty in the configuration (the desktop's session key, the alarm webhook's
secret): created atomically on first use, read back afterwards."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def kept_secret(path: str | os.PathLike, make: Callable[[], str], what: str) -> str:
    """The secret in ``path``, or a new one from ``make()`` written there (only by
    the first of several processes starting at once).  An empty file is an error
    naming ``what``: deleting it generates a new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if secret:
            return secret
        raise RuntimeError(f"{path} is empty; delete it to generate a new {what}") from None
    secret = make()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret + "\n")
    return secret
