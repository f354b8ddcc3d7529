"""Cache archives (.tar.gz): export the entries a notebook needs, import them elsewhere.

Modules: format.py (names, limits, errors), keys.py (the signing key), store.py (which
cache), gzip_writer.py, export.py, checked_import.py. Which entries a notebook needs is
planning: engine/sharing.py.

Layout: `manifest.json` (first member: entries, their files' sizes and sha256, the
producing Python and packages), optionally `manifest.json.sig` (HMAC-SHA256 of the manifest
bytes with the user's key), then `entries/<key>/<file>` exactly as the disk store keeps them.

Import checks the manifest (schema, limits, free space) before writing anything, then
streams every member: a name, type or size the manifest does not announce, or a checksum
that differs, refuses the whole archive (`UnsafeArchive`, naming the member). Entries are
staged inside the cache's `tmp/` and renamed into place only once the whole archive,
gzip trailer included, has been read and verified: nothing outside the cache is touched and
nothing is half-imported.

The gzip stream is a series of gzip members (RFC 1952 allows it; gzip, tar and Python read
it as one stream), one per chunk of about 1 MiB, each stored (level 0) when a sample of it
does not compress and deflated at `level` otherwise; docs/sharing.md has the measurements.
"""


from cellpipe.cache.archive.checked_import import (
    ArchiveItem,
    ImportSummary,
    import_archive,
)
from cellpipe.cache.archive.export import (
    ArchiveFile,
    ExportEntry,
    Missing,
    Selection,
    archive_manifest,
    entry_files,
    export_archive,
    selection,
)
from cellpipe.cache.archive.format import (
    DEFAULT_LEVEL,
    FORMAT,
    KEY_ENV,
    MANIFEST,
    MAX_SIZE_ENV,
    SIGNATURE,
    VERSION,
    ArchiveError,
    Limits,
    Progress,
    UnsafeArchive,
    UnsafeKey,
    manifest_schema,
    parse_size,
)
from cellpipe.cache.archive.gzip_writer import (
    ChunkedGzipWriter,
)
from cellpipe.cache.archive.keys import (
    configured_key,
    key_file,
    sign,
)
from cellpipe.cache.archive.store import (
    notebook_scope,
    open_store,
)

__all__ = [
    "ArchiveError",
    "ArchiveFile",
    "ArchiveItem",
    "ChunkedGzipWriter",
    "DEFAULT_LEVEL",
    "ExportEntry",
    "FORMAT",
    "ImportSummary",
    "KEY_ENV",
    "Limits",
    "MANIFEST",
    "MAX_SIZE_ENV",
    "Missing",
    "Progress",
    "SIGNATURE",
    "Selection",
    "UnsafeArchive",
    "UnsafeKey",
    "VERSION",
    "archive_manifest",
    "configured_key",
    "entry_files",
    "export_archive",
    "import_archive",
    "key_file",
    "manifest_schema",
    "notebook_scope",
    "open_store",
    "parse_size",
    "selection",
    "sign",
]
