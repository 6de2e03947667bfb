"""The signing secret: one key for tracking links, unsubscribe links and return paths.

``HERALD_SECRET_KEY`` when set; otherwise 32 random bytes generated once into
``<data_dir>/secret.key`` (mode 0600), so every process of one machine (``herald up``) shares it
and links in mail already sent keep working after a restart.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from config.settings import Settings

KEY_FILE = "secret.key"


def signing_key(settings: Settings) -> bytes:
    """The raw key every signature in mail is made with (32 bytes)."""
    if settings.secret_key is not None:
        return hashlib.sha256(settings.secret_key.get_secret_value().encode()).digest()
    return _file_key(settings.data_dir / KEY_FILE)


def _file_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: two processes starting at
        # once both end up with whichever key was linked first, never a half-written one.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} is not a Herald secret key (32 bytes); delete it")
    return key
