"""Attachment files on disk: one folder, names generated here (random, fixed
form), never the sender's; the sender's name, size and type go to the database."""
from __future__ import annotations

import os
import re
import secrets
import unicodedata
from pathlib import Path

_STORED = re.compile(r"^[0-9a-f]{32}\.bin$")
MAX_ORIGINAL_NAME = 255


class AttachmentStore:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def save(self, data: bytes) -> str:
        """Write ``data`` to a new file (mode 600); returns its stored name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            name = secrets.token_hex(16) + ".bin"
            try:
                fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # pragma: no cover - 128 random bits
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return name

    def path(self, stored_name: str) -> Path:
        """The file of a stored name; anything not of the generated form is refused."""
        if not _STORED.match(stored_name or ""):
            raise ValueError("not a stored attachment name")
        return self.folder / stored_name

    def remove(self, stored_name: str) -> None:
        try:
            self.path(stored_name).unlink()
        except FileNotFoundError:
            pass


def clean_original_name(name: str) -> str:
    """The sender's file name as information only: no directories, no control
    characters, bounded."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return name[:MAX_ORIGINAL_NAME] or "attachment"
