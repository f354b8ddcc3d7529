"""Whether a value a component received was changed in place: its fingerprint, or a pandas
object's blocks, taken when it entered and compared when the component ends."""

from __future__ import annotations

from typing import Any

from cellpipe.cache.values.fingerprint import fingerprint
from cellpipe.cache.values.frames import FrameWatch, cow_frame
from cellpipe.cache.values.stored import StoredValue


def watch(obj: Any, namespace: dict[str, Any] | None = None,
          stored: StoredValue | None = None) -> Any:
    """A token to tell later whether obj changed (see changed()): for a pandas object a
    FrameWatch (no hashing), else a fingerprint in which buffers still unwritten in a
    copy-on-write mapping count by place (no hashing either)."""
    if cow_frame(obj):
        return FrameWatch(obj)
    return fingerprint(obj, namespace, clean_ok=True)


def changed(obj: Any, token: Any, namespace: dict[str, Any] | None = None) -> bool:
    """Whether obj differs from what watch() saw (unpicklable objects always count)."""
    if isinstance(token, FrameWatch):
        return not token.unchanged(obj)
    fp = fingerprint(obj, namespace, clean_ok=True)
    return fp is None or fp != token
