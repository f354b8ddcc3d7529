"""Content-addressed results: memory and on-disk entries, one per (component, key)."""

from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.store import CacheStore, default_cache_dir, disk_cache_enabled
from cellpipe.cache.values import StoredValue, load_value, store_value

__all__ = [
    "CacheEntry",
    "CacheStore",
    "StoredValue",
    "default_cache_dir",
    "disk_cache_enabled",
    "load_value",
    "store_value",
]
