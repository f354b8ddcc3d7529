"""Issue 20 items 2 and 4 through the CLI: the archive key is a secret; `export` never drops an
edge silently; `cache import --dry-run` refuses what the import refuses, counting members
before anything is staged."""

import json
import os
import time

import pytest
from click.testing import CliRunner
from test_share_cache import (
    KEY,
    _engine_entry,
    build,
    cli_import,
    entry_files,
    files_under,
    manifest_for,
    one_line,
    valid_members,
)

from cellpipe.cache import archive as arc
from cellpipe.cli import main


@pytest.fixture
def place(tmp_path, monkeypatch):
    """tmp_path/cache (empty), the config dir in tmp_path/config, no key in the environment."""
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("CELLPIPE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("CELLPIPE_ARCHIVE_KEY", raising=False)
    return tmp_path


# --- item 2: the archive key --------------------------------------------------------------

def test_a_key_file_others_can_read_or_another_user_owns_trusts_nothing(place):
    made = CliRunner().invoke(main, ["cache", "keygen"])
    assert made.exit_code == 0, made.output
    key = place / "config" / "archive-key"  # $CELLPIPE_CONFIG_DIR, as the worker registry
    assert arc.key_file() == key and key.stat().st_mode & 0o777 == 0o600
    entries = {KEY: entry_files()}
    raw = json.dumps(manifest_for(entries)).encode()
    signature = arc.sign(raw, key.read_text().strip().encode()).encode()
    signed = build(place / "signed.tar.gz", raw, valid_members(entries), signature=signature)
    for mode in (0o644, 0o640, 0o606, 0o620):
        key.chmod(mode)
        result = cli_import(signed, place / "cache")  # no --trust: only the key could allow it
        assert result.exit_code == 1, result.output
        assert (f"refusing the archive key {key}: it can be read or written by other users "
                f"(mode {mode:o})") in one_line(result)
        assert files_under(place / "cache") == []
    key.chmod(0o600)
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(key, 54321, -1)
        result = cli_import(signed, place / "cache")
        assert result.exit_code == 1
        assert "belongs to another user (uid 54321)" in one_line(result)
        replaced = CliRunner().invoke(main, ["cache", "keygen", "--force"])
        assert replaced.exit_code == 0 and key.stat().st_uid == os.geteuid()
        assert key.stat().st_mode & 0o777 == 0o600
        signature = arc.sign(raw, key.read_text().strip().encode()).encode()
        signed = build(place / "signed.tar.gz", raw, valid_members(entries), signature=signature)
    result = cli_import(signed, place / "cache")
    assert result.exit_code == 0 and "signed with your key" in result.output


# --- item 4: export refuses broken edges ------------------------------------------------

def _cell(cid, source, name=None, parents=(), kind="code"):
    cell = {"id": cid, "cell_type": kind, "source": source, "metadata": {}}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    if name:
        cell["metadata"]["cellpipe"] = {"name": name, "parents": list(parents)}
    return cell


BROKEN = {
    "dangling parent": ([_cell("a", "x = 1", "load"), _cell("b", "y = x", "fit", ["gone"])],
                        "component 'fit' has parent 'gone', which is not a component"),
    "markdown parent": ([_cell("m", "# notes", kind="markdown"),
                         _cell("b", "y = 1", "fit", ["m"])],
                        "component 'fit' has parent 'm'"),
    "nbformat 4.0": ([_cell("a", "x = 1", "load"), _cell("b", "y = x", "fit", ["a"])],
                     "component 'fit' has parent 'a'"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_export_refuses_the_broken_edges_plan_refuses(tmp_path, case):
    cells, says = BROKEN[case]
    minor = 5
    if case == "nbformat 4.0":  # no cell ids: the parents point at nothing
        minor = 0
        for cell in cells:
            cell.pop("id")
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": minor, "metadata": {},
                                "cells": cells}))
    env = {"CELLPIPE_CACHE_DIR": str(tmp_path / "cache")}
    plan = CliRunner(env=env).invoke(main, ["plan", str(path)])
    assert plan.exit_code == 1 and says in plan.output
    for extra in ([], ["-c", "fit"], ["-o", str(tmp_path / "p.json")]):
        result = CliRunner(env=env).invoke(main, ["export", str(path), *extra])
        assert result.exit_code == 1, (extra, result.output)
        assert says in result.output and not result.output.startswith("{")
    assert not (tmp_path / "p.json").exists()


# --- item 4: the dry run makes every check the import makes ---------------------------------

def _swapped(place):
    """Entry KEY holding another key's entry (its own manifest names the other key)."""
    entries = {KEY: entry_files(key="b" * 64)}
    return build(place / "swap.tar.gz", manifest_for(entries), valid_members(entries)), []


def _refingerprinted(place):
    """A value whose bytes do not match the fingerprint its entry's manifest records."""
    key, files = _engine_entry(place)
    var = next(n for n in files if n != "manifest.json")
    files[var] = files[var][:-1] + bytes([files[var][-1] ^ 1])
    entries = {key: files}
    return build(place / "fp.tar.gz", manifest_for(entries), valid_members(entries)), []


def _announced_bomb(place):
    """Sizes that add up, announcing a petabyte (under --max-size): more than the disk has."""
    files = entry_files()
    manifest = manifest_for({KEY: files})
    var = manifest["entries"][0]["files"][1]
    var["size"] = 10**15
    manifest["entries"][0]["size"] = manifest["total_size"] = len(files["manifest.json"]) + 10**15
    return build(place / "bomb.tar.gz", manifest, []), ["--max-size", "2000T"]


def _many_members(place):
    """One entry listing 200,000 files."""
    files = [{"name": f"v{i}.bin", "size": 1, "sha256": "0" * 64} for i in range(200_000)]
    files.append({"name": "manifest.json", "size": 1, "sha256": "0" * 64})
    manifest = manifest_for({})
    manifest["entries"] = [{"key": KEY, "component_id": "a", "name": "a", "size": len(files),
                            "files": files}]
    manifest.update(entry_count=1, total_size=len(files))
    return build(place / "many.tar.gz", manifest, []), []


DRY_RUN = {
    "key swap": (_swapped, "does not describe the entry the archive manifest lists"),
    "fingerprint": (_refingerprinted,
                    "does not match the fingerprint/xxh3 its entry's manifest.json records"),
    "announced bomb": (_announced_bomb, f"the entries need {10**15 + 10**3}"),
    "200,000 members": (_many_members, "lists 200001 files, above the limit of 100000 members"),
}


@pytest.mark.parametrize("case", list(DRY_RUN))
def test_a_dry_run_refuses_what_the_import_refuses(place, case):
    make, says = DRY_RUN[case]
    path, extra = make(place)
    if case == "announced bomb":
        says = says[:-4]  # the manifest's own size is in the total
    for mode in (["--dry-run"], ["--trust"]):
        started = time.monotonic()
        result = cli_import(path, place / "cache", *mode, *extra)
        assert result.exit_code == 1, (mode, result.output)
        assert says in one_line(result), (mode, result.output)
        assert time.monotonic() - started < 20  # counted before anything is staged
        assert files_under(place / "cache") == []


def test_a_dry_run_of_a_sound_archive_writes_no_entry(place):
    entries = {KEY: entry_files()}
    path = build(place / "ok.tar.gz", manifest_for(entries), valid_members(entries))
    result = cli_import(path, place / "cache", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "1 entries would be checked and imported" in result.output
    assert files_under(place / "cache") == [] and not (place / "cache" / "entries").exists()
