"""Big arrays made in a memfd from the start (NumPy's memory handlers, NEP 49), so that
keeping a component's new array costs no copy.

While a component's code runs, NumPy buffers of at least CELLPIPE_ALLOCATOR_MIN bytes
(default 32 MiB, the size from which glibc maps fresh memory for plain NumPy too) are
allocated by memfd_alloc.c, each in its own memfd. When the component ends, such an array
is sealed (seal()): its memfd becomes the stored value, and the array, at the same address,
is a copy-on-write mapping of it. The array keeps its identity, views and aliases, and no
byte is copied. See memfd_alloc.c.

This pays only where the kernel gives memfds huge pages: with 4 KiB pages, allocating and
reading shared memory costs several times what anonymous huge pages cost, more than the
copy it saves. CELLPIPE_ALLOCATOR=auto (the default) turns it on where
/sys/kernel/mm/transparent_hugepage/shmem_enabled allows huge pages (advise, within_size,
always, force), `on` turns it on anyway, `off` never. Without the compiled library (no C
compiler at install) or on another OS, values are copied once, as before.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

LIBRARY = Path(__file__).with_name("_memfd_alloc.so")
_THP = Path("/sys/kernel/mm/transparent_hugepage")
_DEFAULT_MIN = 32 << 20


class Region(NamedTuple):
    base: int
    size: int
    fd: int  # the region's own descriptor: dup it to keep the memfd
    sealed: int  # 0: shared (being written), 1: sealed, 2: made private in a forked child


def shmem_huge_pages() -> str:
    """The kernel's huge page policy for shared memory (memfds): 'never' when unknown."""
    policy = "never"
    for path in (_THP / "shmem_enabled", _THP / "hugepages-2048kB" / "shmem_enabled"):
        try:
            text = path.read_text()
        except OSError:
            continue
        chosen = text[text.find("[") + 1:text.find("]")] if "[" in text else text.strip()
        if chosen != "inherit":
            policy = chosen
    return policy


def huge_pages_possible() -> bool:
    return shmem_huge_pages() in ("advise", "within_size", "always", "force")


class _State:
    def __init__(self) -> None:
        self.lib: Any = None
        self.capsule: Any = None
        self.set_handler: Any = None
        self.reason = ""


_STATE: list[_State] = []


def _setting() -> str:
    value = os.environ.get("CELLPIPE_ALLOCATOR", "auto").strip().lower()
    return value if value in ("auto", "on", "off") else "auto"


def _min_bytes() -> int:
    try:
        return max(1 << 20, int(os.environ.get("CELLPIPE_ALLOCATOR_MIN", _DEFAULT_MIN)))
    except ValueError:
        return _DEFAULT_MIN


def _state() -> _State:
    if _STATE:
        return _STATE[0]
    state = _State()
    _STATE.append(state)
    setting = _setting()
    huge = huge_pages_possible()
    if setting == "off" or (setting == "auto" and not huge):
        state.reason = ("off (CELLPIPE_ALLOCATOR=off)" if setting == "off" else
                        f"off: memfds get no huge pages here (shmem_enabled: {shmem_huge_pages()})")
        return state
    np = sys.modules.get("numpy")
    if np is None or not LIBRARY.exists() or not sys.platform.startswith("linux"):
        state.reason = "off: " + ("numpy is not imported" if np is None else
                                  "the library was not built" if sys.platform.startswith("linux")
                                  else "Linux only")
        return state
    try:
        state.lib, state.capsule, state.set_handler = _install(np, huge)
        state.reason = f"on (from {_min_bytes() >> 20} MiB, huge pages {'on' if huge else 'off'})"
    except (OSError, AttributeError, ValueError) as exc:
        state.reason = f"off: {exc}"
    return state


def _install(np: Any, huge: bool) -> tuple[Any, Any, Any]:
    """Load the library and make the handler's capsule (nothing is switched on yet)."""
    core = getattr(np, "_core", None) or np.core
    api = core._multiarray_umath._ARRAY_API
    py = ctypes.pythonapi
    py.PyCapsule_GetPointer.restype = ctypes.c_void_p
    py.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    py.PyCapsule_IsValid.restype = ctypes.c_int
    py.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
    py.PyCapsule_New.restype = ctypes.py_object
    py.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    table = ctypes.cast(py.PyCapsule_GetPointer(api, None), ctypes.POINTER(ctypes.c_void_p))
    set_handler = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(table[304])
    get_handler = ctypes.PYFUNCTYPE(ctypes.py_object)(table[305])
    current = get_handler()
    # the API table's entries 304/305 are PyDataMem_SetHandler/GetHandler since NumPy 1.22:
    # check that what came back is a handler before trusting them
    if type(current).__name__ != "PyCapsule" or not py.PyCapsule_IsValid(current, b"mem_handler"):
        raise ValueError("this NumPy has no memory handler API")
    if core.multiarray.get_handler_name() != "default_allocator":
        raise ValueError(f"NumPy's memory handler is {core.multiarray.get_handler_name()!r}, "
                         "not its default: left alone")
    lib = ctypes.CDLL(str(LIBRARY), use_errno=True)
    lib.cp_handler.restype = ctypes.c_void_p
    lib.cp_handler.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.cp_region.restype = ctypes.c_int
    lib.cp_region.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                              ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_int),
                              ctypes.POINTER(ctypes.c_int)]
    lib.cp_seal.restype = ctypes.c_int
    lib.cp_seal.argtypes = [ctypes.c_void_p]
    lib.cp_made.restype = ctypes.c_ulong
    handler = lib.cp_handler(py.PyCapsule_GetPointer(current, b"mem_handler"), _min_bytes(),
                             int(huge))
    capsule = py.PyCapsule_New(handler, _NAME, None)
    return lib, capsule, set_handler


_NAME = b"mem_handler"  # kept alive here: the capsule refers to it


def status() -> str:
    """One line: whether big arrays are made in memfds here, and why not."""
    return _state().reason


_OFF = object()  # switch_on's answer when it switched nothing


def switch_on() -> Any:
    """From now on (in this context) big NumPy buffers are made in memfds; pass what this
    returns to switch_back. When numpy is not imported yet, from its import on (a
    component that imports numpy and makes an array is the common first one)."""
    if "numpy" not in sys.modules:
        if _setting() == "off":
            return _OFF
        hook = _OnNumpyImport()
        sys.meta_path.insert(0, hook)
        return hook
    state = _state()
    if state.capsule is None:
        return _OFF
    return state.set_handler(state.capsule)


def switch_back(previous: Any) -> None:
    if isinstance(previous, _OnNumpyImport):
        if previous in sys.meta_path:
            sys.meta_path.remove(previous)
        previous = previous.previous
    if previous is not _OFF:
        _STATE[0].set_handler(previous)


class _OnNumpyImport(importlib.abc.MetaPathFinder):
    """switch_on once numpy has been imported (by the code that runs now)."""

    def __init__(self) -> None:
        self.previous: Any = _OFF

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "numpy":
            return None
        sys.meta_path.remove(self)  # once, and not for the look-up below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenSwitchOn(spec.loader, self)
        return spec


class _ThenSwitchOn(importlib.abc.Loader):
    def __init__(self, loader: Any, hook: _OnNumpyImport) -> None:
        self.loader = loader
        self.hook = hook

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.hook.previous = switch_on()


@contextmanager
def allocating() -> Iterator[None]:
    """switch_on for the block."""
    previous = switch_on()
    try:
        yield
    finally:
        switch_back(previous)


def region_of(address: int) -> Region | None:
    """The memfd region holding address, if this allocator made it and it is alive."""
    if not _STATE or _STATE[0].lib is None:
        return None
    base, size = ctypes.c_size_t(), ctypes.c_size_t()
    fd, sealed = ctypes.c_int(), ctypes.c_int()
    if not _STATE[0].lib.cp_region(address, ctypes.byref(base), ctypes.byref(size),
                                   ctypes.byref(fd), ctypes.byref(sealed)):
        return None
    return Region(base.value, size.value, fd.value, sealed.value)


def seal(address: int) -> None:
    """Seal the region holding address (see memfd_alloc.c): OSError when it cannot be."""
    assert _STATE and _STATE[0].lib is not None
    if _STATE[0].lib.cp_seal(address) != 0:
        err = ctypes.get_errno() or 12
        raise OSError(err, os.strerror(err))


def regions_made() -> int:
    """How many buffers this allocator has made (0 when it is off)."""
    return int(_STATE[0].lib.cp_made()) if _STATE and _STATE[0].lib is not None else 0
