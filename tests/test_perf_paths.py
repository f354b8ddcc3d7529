"""Issue 27: the cheap paths stay cheap and keep their guarantees.

The merge driver's start-up imports only what a merge needs, and the hostile-JSON check's
fast path (C parser, depth read from the text) refuses exactly what the slow path refuses.
"""

import json
import random
import re
import subprocess
import sys

import pytest

from cellpipe.model import jsontext
from cellpipe.model.jsontext import MAX_DEPTH, _nesting_within, _too_deep


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running code."""
    proc = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\n"
                           "print(' '.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_merge_driver_imports_only_the_merge_path():
    loaded = modules_loaded_by("import cellpipe.gitnb.driver")
    for heavy in ("rich", "nbformat", "jsonschema", "cellpipe.model.notebook",
                  "cellpipe.model.link_convert", "cellpipe.model.code", "cellpipe.gitnb.diff"):
        assert heavy not in loaded, f"{heavy} is imported at the merge driver's start-up"


def _random_value(rnd: random.Random, depth: int):
    alphabet = ["[", "]", "{", "}", '"', "\\", "a", "\n", '\\"', "\\\\", "é"]
    text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 5)))
    roll = rnd.random()
    if depth > 0 and roll < 0.4:
        return [_random_value(rnd, depth - 1) for _ in range(rnd.randint(0, 3))]
    if depth > 0 and roll < 0.7:
        return {text + str(k): _random_value(rnd, depth - 1) for k in range(rnd.randint(0, 3))}
    return rnd.choice([text, 1, 2.5, None, True])


def test_depth_read_from_the_text_agrees_with_the_walk():
    rnd = random.Random(27)
    for i in range(400):
        value = _random_value(rnd, 5)
        for _ in range(rnd.randint(MAX_DEPTH - 4, MAX_DEPTH + 4) if i % 2 else 0):
            value = [value, _random_value(rnd, 1)] if rnd.random() < 0.5 else \
                {str(_random_value(rnd, 0)): value, "k": "]\\\"["}
        deep = _too_deep(value)
        for text in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False),
                     json.dumps(value, ensure_ascii=False).encode()):
            assert _nesting_within(text, MAX_DEPTH) is not deep, text[:200]
    assert _nesting_within(json.dumps([[1]]).encode("utf-16"), MAX_DEPTH) is False  # can't tell


@pytest.mark.parametrize("text, message", [
    ("[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2), "nested more than 100 levels deep"),
    ('{"cells": [{"n": ' + "9" * 5000 + "}]}", "cells[0].n: an integer of 5000 digits"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_fast_path_refuses_what_the_slow_path_refused(text, message):
    for data in (text, text.encode()):
        with pytest.raises(jsontext.JSONTextError, match=message.replace("[", r"\[")):
            jsontext.loads(data, "nb.ipynb")
    ok = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert jsontext.loads(ok, "nb.ipynb") is not None
    with pytest.raises(json.JSONDecodeError):
        jsontext.loads('{"a": [1,', "nb.ipynb")


def test_cli_command_table_names_every_command():
    """cellpipe.cli.COMMANDS says which module adds which command (loaded when invoked)."""
    import importlib

    import click

    from cellpipe.cli import COMMAND_MODULES, COMMANDS

    group = click.Group()
    for module in COMMAND_MODULES:
        importlib.import_module(f"cellpipe.cli.{module}").register(group)
    assert set(group.commands) == set(COMMANDS)
    for name, modules in COMMANDS.items():
        lone = click.Group()
        for module in modules:
            importlib.import_module(f"cellpipe.cli.{module}").register(lone)
        assert name in lone.commands
        if isinstance(group.commands[name], click.Group):  # subcommands from other modules
            assert set(lone.commands[name].commands) == set(group.commands[name].commands)


def test_cellpipe_run_does_not_import_other_commands():
    loaded = modules_loaded_by("from cellpipe.cli import main\nmain.get_command(None, 'run')")
    for other in ("cellpipe.cli.git", "cellpipe.cli.sweep", "cellpipe.cli.share",
                  "cellpipe.gitnb.merge", "optuna"):
        assert other not in loaded, f"{other} is imported by `cellpipe run`"


def test_perf_benchmark_prints_its_ratios():
    """A smoke run of benchmarks/bench_perf.py (row 4 at 50 cells: two short processes)."""
    from pathlib import Path

    bench = Path(__file__).parent.parent / "benchmarks" / "bench_perf.py"
    proc = subprocess.run([sys.executable, str(bench), "--quick", "--rows", "4",
                           "--cells", "50"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "load average" in proc.stdout
    assert re.search(r"cellpipe merge driver +min +[\d.]+ s +median +[\d.]+ s +ratio +[\d.]+x",
                     proc.stdout) or "nbmerge not installed" in proc.stdout


def test_file_store_inputs_are_the_files_mapped_copy_on_write(tmp_path):
    """A task's big input from a file:// store is the store's file mapped privately: no copy
    is made, the task may write to it, the file never changes, and a damaged file is still
    refused (the checksum reads the mapping)."""
    np = pytest.importorskip("numpy")
    from cellpipe.remote import DataStore, Task
    from cellpipe.remote.taskrun import run_task

    store = DataStore((tmp_path / "store").as_uri())
    code = "import numpy as np\na = np.arange(500_000, dtype='float64')"
    assert run_task(Task("t", "c", "k", code, "k", [], {}), store).status == "ok"
    var = next(p for p in (tmp_path / "store" / "entries" / "k").glob("var*.bin")
               if p.stat().st_size > 1 << 20)
    before = var.read_bytes()
    entry = store.get("k", private=True)
    buffers = entry.variables["a"].buffers
    with open("/proc/self/maps") as maps:
        assert str(var) in maps.read()
    view = memoryview(buffers[0]).cast("B")
    assert not view.readonly
    arr = np.frombuffer(view, dtype="float64")
    assert arr[12_345] == 12_345.0
    arr[:] = -1.0  # the task's own pages
    assert var.read_bytes() == before
    del arr, view, buffers, entry
    damaged = bytearray(before)
    damaged[-1] ^= 0xFF
    var.write_bytes(bytes(damaged))
    from cellpipe.remote import DataStoreError

    with pytest.raises(DataStoreError, match="'a' is damaged"):
        store.get("k", private=True)
