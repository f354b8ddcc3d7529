"""Big arrays made in a memfd from the start (cellpipe/cache/values/alloc.py, NEP 49): a new
array is kept without a copy, at its address, and every guarantee of the data path holds."""

import os

import numpy as np
import pytest
from kernelutil import streams
from nbutil import make_notebook
from test_engine import KINDS, kind_pipeline, pipe, runner

from cellpipe.cache.values import alloc

pytestmark = pytest.mark.skipif(not alloc.LIBRARY.exists(),
                                reason="the memory handler was not built (no C compiler)")

ON = {"CELLPIPE_ALLOCATOR": "on", "CELLPIPE_ALLOCATOR_MIN": str(1 << 20)}


@pytest.fixture
def memfd_arrays(monkeypatch):
    """The allocator on for arrays of 1 MiB and more, whatever the kernel's huge pages."""
    for key, value in ON.items():
        monkeypatch.setenv(key, value)
    alloc._STATE.clear()
    assert alloc.status().startswith("on"), alloc.status()
    yield
    alloc._STATE.clear()


def memfds(kind: str) -> dict[int, int]:
    """inode -> size of this process's memfds named cellpipe-<kind>."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == f"/memfd:cellpipe-{kind} (deleted)":
                st = os.stat(f"/proc/self/fd/{fd}")
                found[st.st_ino] = st.st_size
        except OSError:
            continue
    return found


MAKE = ("import numpy as np, os\nfrom cellpipe.cache.values import alloc\n"
        "arr = np.arange(1 << 18, dtype=np.float64)\nalias = arr\nview = arr[8:]\n"
        "made_at = arr.__array_interface__['data'][0]\n"
        "made_in = os.fstat(alloc.region_of(made_at).fd).st_ino")


def test_a_new_big_array_is_kept_without_a_copy(memfd_arrays):
    """The array a component made is the stored value's memory: same address after the run,
    its memfd is the one the stored value keeps, no other memfd was made for it, and views
    and aliases still share it."""
    copies_before = set(memfds("value"))
    r = runner()
    res = r.run(pipe((MAKE, "make", [])), "make")
    ns = res.namespace
    assert ns["arr"].__array_interface__["data"][0] == ns["made_at"]
    assert ns["alias"] is ns["arr"] and np.shares_memory(ns["view"], ns["arr"])
    stored = r.store.get(res.plan.step("make").key).variables["arr"]
    assert os.fstat(stored.backing.source).st_ino == ns["made_in"]
    assert set(memfds("value")) == copies_before  # no copy of the bytes anywhere
    assert stored.backing.sizes == [ns["arr"].nbytes]


def test_arrays_held_by_other_values_are_kept_in_place_too(memfd_arrays):
    """An array in a list, in a dict, or with a second name is kept with what holds it
    (one object for consumers) and still without a copy."""
    copies_before = set(memfds("value"))
    r = runner()
    p = pipe(("import numpy as np\nbig = np.ones(1 << 18)\nbox = [big]\nsame = big\n"
              "d = {'arr': np.zeros(1 << 18), 'n': 1}", "make", []),
             ("seen = (box[0] is big, same is big, float(big.sum()), d['arr'].shape)", "use",
              ["make"]))
    assert r.run(p, "use").namespace["seen"] == (True, True, float(1 << 18), (1 << 18,))
    assert set(memfds("value")) == copies_before


def test_a_later_write_makes_a_private_page_and_never_reaches_the_stored_value(memfd_arrays):
    r = runner()
    p = pipe((MAKE, "make", []), ("arr[0] = -1.0\nseen = float(view[0])", "w", ["make"]),
             ("first = float(arr[0])", "r", ["make"]))
    made = r.run(p, "make").namespace
    made["arr"][1] = 99.0  # the producer's own array, written after the run: a private page
    assert r.run(p, "r").namespace["first"] == 0.0
    w = r.run(p, "w").namespace
    assert w["seen"] == 8.0 and w["arr"][0] == -1.0
    assert r.run(p, "r", rerun_target=True).namespace["first"] == 0.0


@pytest.mark.parametrize("kind", ["numpy-big", "nested-arrays", "pandas"])
def test_sibling_isolation_with_arrays_made_in_memfds(memfd_arrays, kind, tmp_path):
    """test_engine's guarantee: a parent's in-place change is seen, a sibling's never, from
    memory and from disk."""
    assert KINDS[kind]
    p = kind_pipeline(kind)
    r = runner(tmp_path)
    assert r.run(p, "child").namespace["after"] == 7
    assert r.run(p, "reader").namespace["seen"] == 0
    r.store.flush()
    assert runner(tmp_path).run(p, "reader", rerun_target=True).namespace["seen"] == 0
    assert alloc.regions_made() > 0


def test_a_value_written_after_sealing_is_stored_again_by_copy(memfd_arrays):
    """An array sealed by one component and changed in place by the next no longer matches
    its memfd: the change is kept as a copy, the first result stays as it was."""
    r = runner()
    p = pipe(("import numpy as np\na = np.zeros(1 << 18)", "make", []),
             ("a[5] = 5.0\nb = a", "w", ["make"]),
             ("seen = (float(a[5]), float(b[5]), b is a)", "r", ["w"]),
             ("first = float(a[5])", "sib", ["make"]))
    assert r.run(p, "r").namespace["seen"] == (5.0, 5.0, True)
    assert r.run(p, "sib").namespace["first"] == 0.0


def test_a_forked_child_cannot_write_into_its_parents_array(memfd_arrays):
    """Before sealing, a region is shared memory: a fork child gets it copy-on-write, as it
    gets ordinary memory."""
    code = ("import numpy as np, os\na = np.zeros(1 << 18)\npid = os.fork()\n"
            "if pid == 0:\n    a[:] = 9.0\n    os._exit(0)\nos.waitpid(pid, 0)\n"
            "seen = float(a.max())")
    assert runner().run(pipe((code, "make", [])), "make").namespace["seen"] == 0.0


def test_off_means_plain_numpy_memory(monkeypatch):
    monkeypatch.setenv("CELLPIPE_ALLOCATOR", "off")
    alloc._STATE.clear()
    try:
        made = alloc.regions_made()
        res = runner().run(pipe(("import numpy as np\na = np.ones(1 << 20)", "make", [])),
                           "make")
        assert float(res.namespace["a"].sum()) == float(1 << 20)
        assert alloc.regions_made() == made == 0 and alloc.status().startswith("off")
    finally:
        alloc._STATE.clear()


PROBE = """\
import os
def memfd_of(a):
    at = a.__array_interface__['data'][0]
    for line in open('/proc/self/maps'):
        span, _, _, _, inode = line.split()[:5]
        lo, hi = (int(x, 16) for x in span.split('-'))
        if lo <= at < hi:
            return int(inode)
def link(f):
    try:
        return os.readlink(f'/proc/self/fd/{f}')
    except OSError:  # the descriptor listdir itself used
        return ''
copies = sum(link(f).startswith('/memfd:cellpipe-value') for f in os.listdir('/proc/self/fd'))
"""


def test_in_a_kernel_the_array_is_the_one_the_component_made(tmp_path):
    """The JupyterLab path (%cellpipe run in a real ipykernel): the target's array is the
    component's own (same address, same memfd), a consumer maps that same memfd, the kernel
    made no copy, and a sibling's write changed nothing for the next reader."""
    from kernelutil import kernel_env

    from cellpipe.cli.kernel_driver import PipelineKernel

    env = dict(kernel_env(tmp_path / "cache"), **ON)
    nb = make_notebook([(MAKE, "make", []), ("arr[0] = -1.0", "w", ["make"]),
                        ("first = float(arr[0])\ntotal = float(arr.sum())", "r", ["make"])])
    with PipelineKernel(cwd=str(tmp_path), env=env, timeout=120) as kernel:
        kernel.sync(nb)
        assert kernel.run("make").status == "ok"
        made = kernel.execute(PROBE + "print(arr.__array_interface__['data'][0] == made_at, "
                              "memfd_of(arr) == made_in, view.base is arr, copies)")
        assert streams(made).split() == ["True", "True", "True", "0"], made.outputs
        assert kernel.run("w").status == "ok"
        assert kernel.run("r").status == "ok"
        read = kernel.execute(PROBE + "print(first, total, memfd_of(arr) == made_in, copies)")
        # one copy in all: w's changed array, a new value (its write made it w's own)
        assert streams(read).split() == ["0.0", str(float(sum(range(1 << 18)))), "True", "1"]


def test_a_copy_through_a_huge_page_mapping_keeps_every_byte(monkeypatch):
    """The copy used where memfds get huge pages only on request (shmem_enabled advise):
    forced here, whatever this machine's setting; chunked, in parallel, moved or copied."""
    from cellpipe.cache.values import backing

    monkeypatch.setattr(backing, "_HUGE", [True])
    rng = np.random.default_rng(7)
    parts = [rng.integers(0, 255, (40 << 20) + 13, dtype=np.uint8),
             rng.random((3 << 20) // 8 + 5)]
    kept = backing.Backing.in_memory([memoryview(p).cast("B") for p in parts])
    for view, part in zip(kept.views(), parts, strict=True):
        assert bytes(view) == part.tobytes()
    moved_from = np.arange(9 << 20, dtype=np.float64)
    expected = moved_from.copy()
    moved = backing.Backing.in_memory([memoryview(moved_from).cast("B")], move=True)
    assert np.array_equal(np.frombuffer(moved.views()[0], dtype=np.float64), expected)
    assert moved.fingerprint(b"") == backing.Backing.in_memory(
        [memoryview(expected).cast("B")]).fingerprint(b"")


@pytest.mark.parametrize("kind", ["numpy-big", "nested-arrays"])
def test_sibling_isolation_with_copies_through_huge_page_mappings(monkeypatch, kind):
    from cellpipe.cache.values import backing

    monkeypatch.setattr(backing, "_HUGE_COPY_MIN", 1 << 20)
    monkeypatch.setattr(backing, "_HUGE", [True])
    p = kind_pipeline(kind)
    r = runner()
    assert r.run(p, "child").namespace["after"] == 7
    assert r.run(p, "reader").namespace["seen"] == 0
