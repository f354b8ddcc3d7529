"""Remote execution: worker registry, data store, backends and the task runner (DESIGN 5).

Backends: `local` (a child process per task on this machine), RQ on Redis
(`cellpipe worker`) and, with the `cellpipe[ray]` extra, a Ray cluster (`raybackend`).
`WorkerSteps` implements the engine's `RemoteSteps` over them; every backend's task process
runs `taskrun.run_task`. The task messages are the engine's (`cellpipe.engine.task`).
"""

from cellpipe.engine.task import PROTOCOL_VERSION, Task, TaskResult
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
from cellpipe.remote.steps import WorkerSteps

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
    "WorkerSteps",
    "WorkerUnavailable",
    "open_backend",
]
