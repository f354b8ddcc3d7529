"""What an archive is: its names and version, the limits an import holds it to, and the
errors it raises."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

FORMAT = "cellpipe.cache-archive"
VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
DEFAULT_LEVEL = 1
KEY_ENV = "CELLPIPE_ARCHIVE_KEY"
MAX_SIZE_ENV = "CELLPIPE_ARCHIVE_MAX_SIZE"
CHUNK = 1 << 20  # gzip member size, and read/write size
MEMBER_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


class ArchiveError(Exception):
    """The archive cannot be written or read as asked (the message says why)."""


class UnsafeArchive(ArchiveError):
    """The archive is refused: its manifest or a member is not what it must be."""


class UnsafeKey(ArchiveError):
    """The archive key file could be read or changed by others: it proves nothing."""


@dataclass
class Limits:
    """What an archive may hold; beyond these it is refused before anything is written."""

    max_entries: int = 100_000
    max_members: int = 100_000  # files in all entries (each is a tar member, staged as a file)
    max_total_size: int = 8 << 30
    max_manifest_size: int = 64 << 20

    @classmethod
    def default(cls) -> Limits:
        """The defaults, with $CELLPIPE_ARCHIVE_MAX_SIZE (e.g. 20G) applied."""
        limits = cls()
        raw = os.environ.get(MAX_SIZE_ENV, "").strip()
        if raw:
            try:
                limits.max_total_size = parse_size(raw)
            except ValueError as exc:
                raise ArchiveError(f"${MAX_SIZE_ENV}: {exc}") from None
        return limits


def parse_size(text: str) -> int:
    """'8G', '500M', '1024' -> bytes."""
    raw = text.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(raw[-1:], 1)
    try:
        return int(float(raw.rstrip("KMGT")) * scale)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (use e.g. 500M, 8G)") from None


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of an archive's top-level manifest, version 1."""
    text = resources.files("cellpipe.cache").joinpath("schemas/archive-v1.schema.json")
    return json.loads(text.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
