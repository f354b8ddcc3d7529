"""Worker aliases: where each alias's queue and data store are (DESIGN 5).

Kept in `workers.json` in the user's config dir (platformdirs; `$CELLPIPE_CONFIG_DIR` when
set), file mode 0600. A password may be written as `${ENV_VAR}` inside a URL: only the
reference is stored, the variable is read when the alias is used. Notebooks and exports
hold only the alias.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from cellpipe.remote.errors import RegistryError, UnknownWorker

LOCAL = "local"
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
QUEUE_SCHEMES = {"redis": "rq", "rediss": "rq", "unix": "rq", "ray": "ray"}
OPTION_TYPES: dict[str, type] = {"timeout": float, "retries": int, "num_gpus": float}


def config_dir() -> Path:
    """$CELLPIPE_CONFIG_DIR, else the user config dir (platformdirs)."""
    env = os.environ.get("CELLPIPE_CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir("cellpipe"))


def local_store_url() -> str:
    """The directory store of the embedded `local` alias (beside the results cache)."""
    from cellpipe.cache import default_cache_dir

    return (default_cache_dir().parent / "local-worker-store").as_uri()


def expand(url: str, alias: str) -> str:
    """url with every ${VAR} replaced by the environment variable's value."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            raise RegistryError(f"worker {alias!r} needs the environment variable {name} "
                                "(referenced in its URL); set it before running")
        return os.environ[name]

    return _ENV_REF.sub(value, url)


def redact(url: str) -> str:
    """url with a literal password replaced by *** (${VAR} references are kept)."""
    parts = urlsplit(url)
    if parts.password and not _ENV_REF.fullmatch(parts.password):
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def store_mismatch(worker: str, client_store: str, worker_store: str | None) -> str:
    """What `ping` says when a worker does not see the client's data store."""
    theirs = f"it uses {redact(worker_store)}" if worker_store else "it cannot read it"
    return (f"its worker {worker} does not see this client's data store "
            f"{redact(client_store)} ({theirs}): a run would fail to find its inputs; start "
            "the worker with --store reaching the same storage, or fix the alias's --store")


@dataclass(frozen=True)
class WorkerSpec:
    """One alias: its queue URL (which engine), its data store URL, and options."""

    alias: str
    queue: str
    store: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.alias == LOCAL and not self.queue:
            return LOCAL
        return QUEUE_SCHEMES[urlsplit(self.queue).scheme]

    @property
    def builtin(self) -> bool:
        return self.alias == LOCAL

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def as_json(self) -> dict[str, Any]:
        """What the UI and `workers list` show: passwords never included."""
        return {"alias": self.alias, "kind": self.kind, "queue": redact(self.queue),
                "store": redact(self.store), "options": dict(self.options),
                "builtin": self.builtin}


def check_spec(spec: WorkerSpec) -> None:
    """Raise RegistryError unless alias, URLs and options are well formed."""
    if not _ALIAS.match(spec.alias):
        raise RegistryError(f"worker alias {spec.alias!r} must be letters, digits, '.', '-' "
                            "or '_' (at most 64)")
    if spec.alias == LOCAL:
        raise RegistryError("the alias 'local' is built in (a child process per task on this "
                            "machine); choose another name")
    scheme = urlsplit(spec.queue).scheme
    if scheme not in QUEUE_SCHEMES:
        raise RegistryError(f"worker {spec.alias!r}: queue URL {redact(spec.queue)!r} must start "
                            "with redis://, rediss:// or ray://")
    store_scheme = urlsplit(spec.store).scheme
    if not store_scheme:
        raise RegistryError(f"worker {spec.alias!r}: store URL {spec.store!r} needs a scheme "
                            "(file:///path, s3://bucket/prefix, ...)")
    for name, value in spec.options.items():
        if name not in OPTION_TYPES:
            raise RegistryError(f"worker {spec.alias!r}: unknown option {name!r}; known: "
                                f"{', '.join(sorted(OPTION_TYPES))}")
        try:
            OPTION_TYPES[name](value)
        except (TypeError, ValueError):
            raise RegistryError(f"worker {spec.alias!r}: option {name}={value!r} must be "
                                f"{OPTION_TYPES[name].__name__}") from None


class WorkerRegistry:
    """The aliases of this user, read from and written to one 0600 JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "workers.json"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot read the worker registry {self.path}: {exc}; fix or "
                                "remove the file") from None
        workers = raw.get("workers", {}) if isinstance(raw, dict) else {}
        return workers if isinstance(workers, dict) else {}

    def _write(self, workers: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "workers": workers}, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".workers.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)  # never readable by others, not even for a moment
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def all(self) -> list[WorkerSpec]:
        """Every alias, the builtin `local` first, then by name."""
        specs = [self.get(LOCAL)]
        for alias, raw in sorted(self._read().items()):
            if alias != LOCAL:
                specs.append(WorkerSpec(alias, raw.get("queue", ""), raw.get("store", ""),
                                        dict(raw.get("options", {}))))
        return specs

    def get(self, alias: str, component: str | None = None) -> WorkerSpec:
        """The spec of alias; raises UnknownWorker."""
        if alias == LOCAL:
            return WorkerSpec(LOCAL, "", local_store_url())
        raw = self._read().get(alias)
        if raw is None:
            raise UnknownWorker(alias, component)
        return WorkerSpec(alias, raw.get("queue", ""), raw.get("store", ""),
                          dict(raw.get("options", {})))

    def add(self, spec: WorkerSpec) -> WorkerSpec:
        """Add or replace an alias."""
        options = {k: OPTION_TYPES[k](v) for k, v in spec.options.items()
                   if k in OPTION_TYPES}
        check_spec(spec)
        spec = WorkerSpec(spec.alias, spec.queue, spec.store, options)
        workers = self._read()
        workers[spec.alias] = {"queue": spec.queue, "store": spec.store,
                               "options": spec.options}
        self._write(workers)
        return spec

    def remove(self, alias: str) -> None:
        """Forget alias; raises UnknownWorker (or RegistryError for `local`)."""
        if alias == LOCAL:
            raise RegistryError("the alias 'local' is built in and cannot be removed")
        workers = self._read()
        if alias not in workers:
            raise UnknownWorker(alias)
        del workers[alias]
        self._write(workers)
