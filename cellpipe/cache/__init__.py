"""Content-addressed results: memory and on-disk entries, one per (component, key).

`CacheStore` (memory in front of disk, with run history) is what the engine uses;
`ResultsStore` is the interface every store of results implements.
"""

from cellpipe.cache.disk import DiskStore, EntryInfo, default_cache_dir, disk_cache_enabled
from cellpipe.cache.entry import CacheEntry
from cellpipe.cache.memory import MemoryStore, default_memory_limit
from cellpipe.cache.results import KeyInputs, ResultLookup, ResultsStore
from cellpipe.cache.store import CacheStore
from cellpipe.cache.values import StoredValue, load_value, rebind_function, store_value

__all__ = [
    "CacheEntry",
    "CacheStore",
    "DiskStore",
    "EntryInfo",
    "KeyInputs",
    "MemoryStore",
    "ResultLookup",
    "ResultsStore",
    "StoredValue",
    "default_cache_dir",
    "default_memory_limit",
    "disk_cache_enabled",
    "load_value",
    "rebind_function",
    "store_value",
]
