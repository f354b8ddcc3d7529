"""The user's archive key (a 0600 file or $CELLPIPE_ARCHIVE_KEY, refused like an unsafe
cache when others can read it) and the manifest's HMAC-SHA256 signature."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import platformdirs

from cellpipe.cache.archive.format import KEY_ENV, UnsafeKey
from cellpipe.cache.privacy import secret_problem


def key_file() -> Path:
    """Where the archive key is configured when $CELLPIPE_ARCHIVE_KEY is not set: in
    $CELLPIPE_CONFIG_DIR, else the user config dir (as the worker registry)."""
    env = os.environ.get("CELLPIPE_CONFIG_DIR")
    folder = Path(env) if env else Path(platformdirs.user_config_dir("cellpipe"))
    return folder / "archive-key"


def configured_key() -> bytes | None:
    """The user's archive signing key: $CELLPIPE_ARCHIVE_KEY, else the key file, else None.
    Raises UnsafeKey when the key file is another user's or others can read or write it."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = key_file()
    try:  # checked on the open file: what is read is what was checked
        with open(path, "rb") as f:
            problem = secret_problem(os.fstat(f.fileno()))
            if problem is not None:
                raise UnsafeKey(
                    f"refusing the archive key {path}: it {problem}, so archives signed with "
                    "it prove nothing. Make a new key only you can read (`cellpipe cache "
                    f"keygen --force`) and give it to your team only, or set ${KEY_ENV}"
                )
            text = f.read(4096).decode("utf-8", "replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UnsafeKey(f"the archive key {path} cannot be read ({exc.strerror or exc})") from None
    return text.encode() or None


def sign(manifest: bytes, key: bytes) -> str:
    """HMAC-SHA256 of the manifest bytes, hex."""
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()
