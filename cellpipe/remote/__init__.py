"""Remote execution: worker registry, data store, task messages and backends (DESIGN 5).

Backends: `local` (a child process per task on this machine), RQ on Redis
(`cellpipe worker`) and, with the `cellpipe[ray]` extra, a Ray cluster (`raybackend`). The engine talks to them through `backend.Backend` only.
"""

from cellpipe.remote.backend import Backend, TaskHandle, open_backend
from cellpipe.remote.datastore import DataStore
from cellpipe.remote.errors import (
    DataStoreError,
    RegistryError,
    RemoteError,
    TaskLost,
    UnknownWorker,
    WorkerUnavailable,
)
from cellpipe.remote.registry import LOCAL, WorkerRegistry, WorkerSpec
from cellpipe.remote.task import PROTOCOL_VERSION, Task, TaskResult

__all__ = [
    "LOCAL",
    "PROTOCOL_VERSION",
    "Backend",
    "DataStore",
    "DataStoreError",
    "RegistryError",
    "RemoteError",
    "Task",
    "TaskHandle",
    "TaskLost",
    "TaskResult",
    "UnknownWorker",
    "WorkerRegistry",
    "WorkerSpec",
    "WorkerUnavailable",
    "open_backend",
]
