"""Every results store honours the ResultsStore interface; the disk format is DESIGN 3.4's."""

import json

import pytest

from cellpipe.cache import (
    CacheEntry,
    CacheStore,
    DiskStore,
    MemoryStore,
    ResultsStore,
    load_value,
    store_value,
)
from cellpipe.cache.values import fingerprint_parts


def entry(key="k1", component="load", data=None):
    ns = {"data": data if data is not None else [1, 2, 3]}
    return CacheEntry(key=key, component_id=component, name=component, parent_keys=[],
                      variables={"data": store_value("data", ns["data"], ns)},
                      outputs=[{"output_type": "stream", "name": "stdout", "text": "hi\n"}],
                      created=1.0)


@pytest.fixture(params=["memory", "disk", "cache"])
def store(request, tmp_path) -> ResultsStore:
    return {"memory": lambda: MemoryStore(), "disk": lambda: DiskStore(tmp_path),
            "cache": lambda: CacheStore(tmp_path)}[request.param]()


def test_put_then_get_through_the_interface(store: ResultsStore):
    assert not store.has("k1") and store.get("k1") is None
    store.put(entry())
    store.pin(["k1"])
    if isinstance(store, CacheStore):
        store.flush()
    assert store.has("k1")
    got = store.get("k1")
    assert got is not None and got.component_id == "load" and got.outputs[0]["text"] == "hi\n"
    assert load_value(got.variables["data"], {}) == [1, 2, 3]
    store.put(entry())  # the same key again changes nothing
    assert load_value(store.get("k1").variables["data"], {}) == [1, 2, 3]


def test_disk_layout_is_the_documented_one(tmp_path):
    store = CacheStore(tmp_path, notebook="/nb.ipynb")
    store.put(entry(data=bytearray(b"abc")))
    assert store.flush() == []
    folder = tmp_path / "entries" / "k1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "cellpipe.cache-entry" and manifest["version"] == 1
    assert manifest["key"] == "k1" and manifest["component_id"] == "load"
    (var,) = manifest["variables"]
    assert var["name"] == "data"
    raw = (folder / var["file"]).read_bytes()
    # pickle data at 0, each buffer at its (64-byte aligned) offset, so a restore maps it
    assert var["offsets"][0] == 0 and all(o % 64 == 0 for o in var["offsets"][1:])
    assert len(raw) == var["offsets"][-1] + var["sizes"][-1]
    parts = [raw[o:o + n] for o, n in zip(var["offsets"], var["sizes"], strict=True)]
    assert fingerprint_parts(parts[0], parts[1:]) == var["fingerprint"]  # one hash per byte
    assert "sha256" not in var
    assert manifest["digest"] == "fingerprint/xxh3"  # files are verified by their fingerprint
    assert not list((tmp_path / "tmp").iterdir())  # written in tmp/, renamed into place
    (line,) = (tmp_path / "index.jsonl").read_text().splitlines()
    assert json.loads(line) == {"component_id": "load", "scope": "/nb.ipynb", "key": "k1",
                                "inputs": {}}


def test_history_answers_previous_and_failures(tmp_path):
    store = CacheStore(tmp_path, notebook="/a.ipynb")
    store.put(entry())
    store.flush()
    assert store.previous("load") == ("k1", {})
    store.record_failure("load", "k2", {"code": "x"})
    assert store.last_failed_key("load") == "k2" and store.previous("load") == ("k2", {"code": "x"})
    other = CacheStore(tmp_path, notebook="/b.ipynb")  # a copy of the notebook: own history
    assert other.previous("load") is None
    again = CacheStore(tmp_path, notebook="/a.ipynb")  # a new process: from the index
    assert again.previous("load") == ("k1", {}) and again.last_failed_key("load") is None


def test_memory_never_evicts_a_pinned_key():
    memory = MemoryStore(limit=1)
    memory.pin(["k1", "k2"])
    memory.put(entry("k1", "a"))
    memory.put(entry("k2", "b"))
    assert memory.has("k1") and memory.has("k2")
    memory.pin(())
    memory.trim()
    assert memory.nbytes <= 1 and not memory.has("k1")


def test_consumers_of_a_big_value_never_see_each_others_writes():
    """Each consumer maps the stored copy copy-on-write; a mapping is handed out again only
    when its last consumer is gone and never wrote to it."""
    import numpy as np

    ns: dict = {}
    original = np.arange(1_000_000.0)
    stored = store_value("a", original, ns)
    original[0] = -5.0  # the producer's later writes do not reach the stored copy
    first = load_value(stored, ns)
    assert float(first.sum()) == float(sum(range(1_000_000)))
    del first  # read only: its mapping may serve the next consumer
    second = load_value(stored, ns)
    second[1] = -1.0
    third = load_value(stored, ns)  # second still holds its (written) mapping
    assert third[0] == 0.0 and third[1] == 1.0
    del second
    fourth = load_value(stored, ns)  # second's written mapping is never handed out again
    assert fourth[1] == 1.0 and third[1] == 1.0
    fourth[2] = 9.0
    assert third[2] == 2.0


def test_results_from_elsewhere_arrive_next_to_the_disk_cache_or_in_memory(tmp_path,
                                                                          monkeypatch):
    """The import directory (hard-linked into the disk cache later) is used only on the disk
    cache's file system: elsewhere (a tmpfs /tmp) it would hold results in memory unseen."""
    import os
    import tempfile

    assert CacheStore(None).import_store() is None  # memory only
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    near = CacheStore(tmp_path / "cache").import_store()
    assert near is not None and os.stat(near.root).st_dev == os.stat(tmp_path).st_dev
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no other file system to put the temp dir on")
    monkeypatch.setattr(tempfile, "tempdir", shm)
    assert CacheStore(tmp_path / "cache2").import_store() is None
