"""The gzip stream of an archive: a series of gzip members (RFC 1952), one per chunk of
about 1 MiB, each stored when a sample of it does not compress and deflated otherwise."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import IO, Any

from cellpipe.cache.archive.format import CHUNK, DEFAULT_LEVEL

_SAMPLE = 64 << 10  # bytes of a chunk compressed to decide whether the chunk compresses
_COMPRESSES = 0.9  # a sample that shrinks below this ratio is deflated, else stored


class ChunkedGzipWriter(io.RawIOBase):
    """A gzip stream written as one member per chunk: stored where a sample does not
    compress, deflated at level where it does (see the module docstring)."""

    def __init__(self, raw: IO[bytes], level: int = DEFAULT_LEVEL) -> None:
        self.raw = raw
        self.level = level
        self.buffer = bytearray()
        self.written = 0  # compressed bytes
        self.position = 0  # uncompressed bytes

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.position += view.nbytes
        self.buffer += view
        while len(self.buffer) >= CHUNK:
            self._emit(bytes(self.buffer[:CHUNK]))
            del self.buffer[:CHUNK]
        return view.nbytes

    def _emit(self, chunk: bytes) -> None:
        level = self.level
        if level and len(chunk) > _SAMPLE:
            sample = chunk[:_SAMPLE]
            if len(zlib.compress(sample, 1)) > _COMPRESSES * len(sample):
                level = 0
        member = gzip.compress(chunk, compresslevel=level, mtime=0)
        self.raw.write(member)
        self.written += len(member)

    def close(self) -> None:
        if not self.closed:
            if self.buffer:
                self._emit(bytes(self.buffer))
                self.buffer.clear()
            super().close()
