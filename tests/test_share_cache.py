"""Cache archives (.tar.gz): export/import round trips and hostile archives.

Hostile archives are built here with tarfile and gzip from the format's description in
docs/sharing.md (manifest.json first, then entries/<key>/<file>), never with our writer.
"""

import gzip
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbutil import make_notebook

from cellpipe.cache import CacheStore
from cellpipe.cache import archive as arc
from cellpipe.cli import main

KEY = "a" * 64
GB10 = 10 * 10**9


# --- building archives by hand ---------------------------------------------------------------

def entry_files(key=KEY, value=42):
    """An on-disk cache entry (DESIGN 3.4) holding x = value, written by hand."""
    data = pickle.dumps(value, protocol=5)
    inner = {
        "format": "cellpipe.cache-entry", "version": 1, "key": key, "component_id": "load",
        "name": "load", "inputs": [], "key_inputs": {}, "deleted": [],
        "variables": [{"name": "x", "serializer": "immutable", "file": "var0.bin",
                       "sizes": [len(data)], "sha256": hashlib.sha256(data).hexdigest(),
                       "fingerprint": None, "type": "builtins.int"}],
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "hello\n"}],
        "elapsed": 0.1, "created": 1.0, "run_of": "load", "source_file": None,
    }
    return {"manifest.json": json.dumps(inner).encode(), "var0.bin": data}


def manifest_for(entries, **override):
    """The top-level manifest of {key: {file name: bytes}}, as docs/sharing.md describes it."""
    listed = []
    for key, files in entries.items():
        listed.append({
            "key": key, "component_id": "load", "name": "load",
            "size": sum(len(b) for b in files.values()),
            "files": [{"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                      for n, b in files.items()],
        })
    manifest = {"format": "cellpipe.cache-archive", "version": 1, "created": 0.0,
                "python": "3.11.7", "packages": {}, "notebook": "nb.ipynb",
                "total_size": sum(e["size"] for e in listed), "entry_count": len(listed),
                "entries": listed}
    manifest.update(override)
    return manifest


def member(name, data=b"", type_=tarfile.REGTYPE, linkname="", size=None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = type_, linkname
    info.size = len(data) if size is None else size
    return info, data


def build(path, manifest, members, signature=None):
    """A .tar.gz: manifest.json first, (signature), then members [(TarInfo, bytes)]."""
    raw = json.dumps(manifest).encode() if isinstance(manifest, dict) else manifest
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(member("manifest.json", raw)[0], io.BytesIO(raw))
        if signature is not None:
            tar.addfile(member("manifest.json.sig", signature)[0], io.BytesIO(signature))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def valid_members(entries):
    return [member(f"entries/{k}/{n}", b) for k, files in entries.items() for n, b in files.items()]


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if not p.is_dir())


def cli_import(path, cache, *args):
    env = {"CELLPIPE_CACHE_DIR": str(cache)}
    return CliRunner(env=env).invoke(main, ["cache", "import", str(path), *args])


def one_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return lines[-1]


@pytest.fixture
def place(tmp_path):
    """tmp_path/cache (empty) and a snapshot of everything outside it."""
    (tmp_path / "cache").mkdir()
    return tmp_path


def assert_nothing_written(place, before):
    assert files_under(place / "cache") == []  # nothing imported, nothing half-imported
    outside = [f for f in files_under(place) if not f.startswith("cache/")]
    assert outside == before  # nothing outside the cache


# --- hand-built archives: the valid one imports, hostile ones are refused --------------------

def test_a_hand_built_archive_imports_and_its_entry_loads(place):
    entries = {KEY: entry_files(value=41)}
    path = build(place / "ok.tar.gz", manifest_for(entries), valid_members(entries))
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 0, result.output
    assert "imported 1 entries" in result.output
    entry = CacheStore(place / "cache").get(KEY)
    assert pickle.loads(entry.variables["x"].data) == 41
    assert entry.outputs == [{"output_type": "stream", "name": "stdout", "text": "hello\n"}]
    # importing again changes nothing
    again = cli_import(path, place / "cache", "--trust")
    assert again.exit_code == 0 and "imported 0 entries" in again.output
    assert "1 already present" in again.output


HOSTILE = {
    "path traversal": (
        lambda: [member(f"entries/{KEY}/../../../evil.txt", b"owned")],
        f"member 'entries/{KEY}/../../../evil.txt' has a '..' path component"),
    "absolute path": (
        lambda: [member("/tmp/cellpipe-evil.txt", b"owned")],
        "member '/tmp/cellpipe-evil.txt' has an absolute path"),
    "symlink": (
        lambda: [member(f"entries/{KEY}/var0.bin", type_=tarfile.SYMTYPE,
                        linkname="/etc/passwd")],
        f"member 'entries/{KEY}/var0.bin' is a symbolic link (to '/etc/passwd')"),
    "hard link": (
        lambda: [member(f"entries/{KEY}/var0.bin", type_=tarfile.LNKTYPE,
                        linkname="/etc/passwd")],
        f"member 'entries/{KEY}/var0.bin' is a hard link (to '/etc/passwd')"),
    "device": (
        lambda: [member(f"entries/{KEY}/var0.bin", type_=tarfile.CHRTYPE)],
        f"member 'entries/{KEY}/var0.bin' is a device or pipe"),
    "fifo": (
        lambda: [member(f"entries/{KEY}/var0.bin", type_=tarfile.FIFOTYPE)],
        f"member 'entries/{KEY}/var0.bin' is a device or pipe"),
    "unannounced member": (
        lambda: [member(f"entries/{KEY}/extra.bin", b"x")],
        f"member 'entries/{KEY}/extra.bin' is not announced by the manifest"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_members_are_refused_naming_the_member(place, case):
    members, says = HOSTILE[case]
    entries = {KEY: entry_files()}
    good = valid_members(entries)
    path = build(place / "bad.tar.gz", manifest_for(entries), [good[0], *members(), *good[1:]])
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert says in one_line(result) and "nothing was imported" in one_line(result)
    assert_nothing_written(place, before)
    assert not Path("/tmp/cellpipe-evil.txt").exists()


def test_corrupted_checksum_is_refused(place):
    entries = {KEY: entry_files()}
    manifest = manifest_for(entries)
    members = valid_members(entries)
    info, data = members[1]
    members[1] = (info, data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped, same size
    path = build(place / "bad.tar.gz", manifest, members)
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert f"member 'entries/{KEY}/var0.bin' does not match its sha256" in one_line(result)
    assert_nothing_written(place, before)


def test_truncated_gzip_is_refused(place):
    entries = {KEY: entry_files(value=list(range(20000))), "b" * 64: entry_files("b" * 64)}
    path = build(place / "full.tar.gz", manifest_for(entries), valid_members(entries))
    whole = path.read_bytes()
    for cut in (len(whole) - 4, len(whole) // 2):  # without the gzip trailer; half the data
        cut_path = place / "cut.tar.gz"
        cut_path.write_bytes(whole[:cut])
        before = files_under(place)
        result = cli_import(cut_path, place / "cache", "--trust")
        assert result.exit_code == 1
        assert "truncated or corrupted" in one_line(result)
        assert_nothing_written(place, before)


@pytest.mark.parametrize("lie, says", [
    ("file smaller", "is 5 bytes but the manifest says 4"),
    ("file larger", "is 5 bytes but the manifest says 6"),
    ("entry size", "says it holds 1 bytes but its files hold"),
    ("total size", "says the entries hold 1 bytes"),
    ("entry count", "says 3 entries but lists 1"),
])
def test_a_manifest_that_lies_about_sizes_is_refused(place, lie, says):
    entries = {KEY: entry_files(value=7)}
    manifest = manifest_for(entries)
    var = manifest["entries"][0]["files"][1]
    assert var["size"] == 5  # pickle of 7, protocol 5
    if lie == "file smaller":
        var["size"] = 4
    elif lie == "file larger":
        var["size"] = 6
    elif lie == "entry size":
        manifest["entries"][0]["size"] = 1
    elif lie == "total size":
        manifest["total_size"] = 1
    else:
        manifest["entry_count"] = 3
    if lie.startswith("file"):  # keep the totals consistent so the member check is reached
        manifest["entries"][0]["size"] += var["size"] - 5
        manifest["total_size"] = manifest["entries"][0]["size"]
    path = build(place / "lies.tar.gz", manifest, valid_members(entries))
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert says in one_line(result), result.output
    assert_nothing_written(place, before)


def _tar_block(info, data=b""):
    head = info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
    return head + data + b"\0" * (-len(data) % 512)


def zero_bomb(path, manifest, name, size):
    """A valid .tar.gz whose member `name` is `size` zero bytes, about size/1000 on disk.

    gzip allows a stream of members (RFC 1952); 1 MiB of zeros is compressed once and
    repeated, so 10 GB is never produced, compressed or written."""
    raw = json.dumps(manifest).encode()
    mib = 1 << 20
    assert size % mib == 0
    zeros = gzip.compress(bytes(mib), compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(_tar_block(member("manifest.json", raw)[0], raw)
                                + _tar_block(member(name, size=size)[0]), mtime=0))
        for _ in range(size // mib):
            out.write(zeros)
        out.write(gzip.compress(bytes(1024), mtime=0))  # end-of-archive blocks
    return path


@pytest.mark.parametrize("honest", [True, False])
def test_a_10gb_zero_bomb_is_refused_before_anything_is_written(place, honest):
    mib = 1 << 20
    size = (GB10 // mib + 1) * mib  # just over 10 GB
    inner = entry_files()["manifest.json"]
    files = {"manifest.json": inner, "var0.bin": b"\0" * 0}
    manifest = manifest_for({KEY: files})
    var = manifest["entries"][0]["files"][1]
    var["size"] = size if honest else 1024
    var["sha256"] = "0" * 64
    manifest["entries"][0]["size"] = len(inner) + var["size"]
    manifest["total_size"] = manifest["entries"][0]["size"]
    path = zero_bomb(place / "bomb.tar.gz", manifest, f"entries/{KEY}/var0.bin", size)
    assert path.stat().st_size < 20 * mib  # a bomb: tiny on disk...
    with tarfile.open(path, "r|gz") as tar:  # ...and a valid archive announcing > 10 GB
        assert tar.next().name == "manifest.json"
        assert tar.next().size == size
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    line = one_line(result)
    if honest:
        assert f"announces {len(inner) + size} bytes of entries, above the limit" in line
    else:
        assert f"member 'entries/{KEY}/var0.bin' is {size} bytes but the manifest says 1024" \
            in line
    assert_nothing_written(place, before)


def test_a_sparse_member_announcing_10gb_is_refused(place):
    entries = {KEY: entry_files()}
    manifest = manifest_for(entries)
    info = tarfile.TarInfo(f"entries/{KEY}/var0.bin")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": info.name, "GNU.sparse.realsize": str(GB10)}
    data = f"1\n{GB10 - 1}\n1\n".encode().ljust(512, b"\0") + b"x"
    info.size = len(data)
    members = valid_members(entries)
    path = build(place / "sparse.tar.gz", manifest, [members[0], (info, data)])
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert f"member 'entries/{KEY}/var0.bin' is a sparse file" in one_line(result)
    assert_nothing_written(place, before)


def test_limits_first_member_and_future_versions(place):
    entries = {KEY: entry_files(), "b" * 64: entry_files("b" * 64)}
    path = build(place / "two.tar.gz", manifest_for(entries), valid_members(entries))
    with pytest.raises(arc.UnsafeArchive, match="lists 2 entries, above the limit of 1"):
        arc.import_archive(path, CacheStore(place / "cache"), limits=arc.Limits(max_entries=1))
    result = cli_import(path, place / "cache", "--trust", "--max-size", "100")
    assert result.exit_code == 1 and "above the limit of 100" in one_line(result)
    future = build(place / "future.tar.gz", manifest_for(entries, version=2), [])
    result = cli_import(future, place / "cache", "--trust")
    assert result.exit_code == 1
    assert "cache archive version 2 was written by a newer cellpipe" in one_line(result)
    no_manifest = place / "plain.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        tar.addfile(*member("entries/x/var0.bin", b"x")[:1], io.BytesIO(b"x"))
    result = cli_import(no_manifest, place / "cache", "--trust")
    assert result.exit_code == 1 and "first member must be manifest.json" in one_line(result)
    notgz = place / "nb.ipynb"
    notgz.write_text("{}")
    result = cli_import(notgz, place / "cache", "--trust")
    assert result.exit_code == 1 and "truncated or corrupted" in one_line(result)
    assert files_under(place / "cache") == []


def test_unsigned_archives_ask_and_signed_ones_do_not(place, monkeypatch):
    entries = {KEY: entry_files()}
    manifest = manifest_for(entries)
    raw = json.dumps(manifest).encode()
    path = build(place / "unsigned.tar.gz", raw, valid_members(entries))
    # no tty, no --trust: refused, nothing written
    result = cli_import(path, place / "cache")
    assert result.exit_code == 1 and "pass --trust" in one_line(result)
    assert "loading them runs code" in result.output
    assert files_under(place / "cache") == []
    # a signature made with the user's key: imported without asking
    import hmac

    monkeypatch.setenv("CELLPIPE_ARCHIVE_KEY", "team secret")
    sig = hmac.new(b"team secret", raw, hashlib.sha256).hexdigest().encode()
    signed = build(place / "signed.tar.gz", raw, valid_members(entries), signature=sig)
    forged = build(place / "forged.tar.gz", raw, valid_members(entries), signature=b"0" * 64)
    result = cli_import(forged, place / "cache")
    assert result.exit_code == 1 and "signed, but not with your key" in result.output
    assert files_under(place / "cache") == []
    result = cli_import(signed, place / "cache")
    assert result.exit_code == 0, result.output
    assert "signed with your key" in result.output and "imported 1 entries" in result.output


# --- round trip through a real kernel --------------------------------------------------------

def cellpipe(*args, cache, cwd):
    env = {**os.environ, "CELLPIPE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def steps(stderr):
    """(status, component) of each step `cellpipe run` reported."""
    return [tuple(line.split()[:2]) for line in stderr.splitlines()
            if line.startswith(("  cached ", "  done "))]


@pytest.mark.kernel
def test_exported_cache_makes_an_empty_cache_run_nothing_and_show_every_output(tmp_path):
    nb = make_notebook([
        ("import numpy as np\nimport pandas as pd\narr = np.arange(100000.0)\n"
         "print('loaded', arr.size)", "load", []),
        ("df = pd.DataFrame({'a': arr[:5], 'b': arr[:5] * factor})\ndf", "frame", ["load"]),
        ("import sys\nprint('warning!', file=sys.stderr)\ntotal = float(df['b'].sum())\n"
         "from IPython.display import display, HTML\ndisplay(HTML('<b>sum</b>'))", "stats",
         ["frame"]),
        ("print('report', total)", "report", ["stats"]),
    ], parameters={"factor": {"type": "int", "value": 2}})
    work = tmp_path / "work"
    work.mkdir()
    path = work / "nb.ipynb"
    nbformat.write(nb, path)
    first = cellpipe("run", path, "-o", work / "first.ipynb", cache=tmp_path / "A", cwd=work)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "report 20.0\n"
    export = cellpipe("cache", "export", path, "-o", tmp_path / "cache.tar.gz",
                      cache=tmp_path / "A", cwd=work)
    assert export.returncode == 0, export.stderr
    assert "4 entries" in export.stderr
    dry = cellpipe("cache", "import", tmp_path / "cache.tar.gz", "--dry-run", "--notebook", path,
                   cache=tmp_path / "B", cwd=work)
    assert dry.returncode == 0, dry.stderr
    assert "4 from the cache (load, frame, stats, report); 0 run" in dry.stderr
    assert not (tmp_path / "B" / "entries").exists()  # a dry run writes nothing
    imported = cellpipe("cache", "import", tmp_path / "cache.tar.gz", "--trust",
                        cache=tmp_path / "B", cwd=work)
    assert imported.returncode == 0, imported.stderr
    assert "imported 4 entries" in imported.stdout
    second = cellpipe("run", path, "-o", work / "second.ipynb", cache=tmp_path / "B", cwd=work)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert steps(second.stderr) == [("cached", n) for n in ("load", "frame", "stats", "report")]
    ran, reused = nbformat.read(work / "first.ipynb", 4), nbformat.read(work / "second.ipynb", 4)
    for a, b in zip(ran.cells, reused.cells, strict=True):
        assert b.outputs == a.outputs and a.outputs, a.id  # every captured output shown
    assert any(o.get("name") == "stderr" for o in reused.cells[2].outputs)
    assert any("text/html" in o.get("data", {}) for o in reused.cells[2].outputs)
    # changed code simply misses
    nb.cells[3].source = "print('report!', total)"
    nbformat.write(nb, path)
    third = cellpipe("run", path, cache=tmp_path / "B", cwd=work)
    assert third.returncode == 0 and third.stdout == "report! 20.0\n"
    assert steps(third.stderr) == [("cached", "load"), ("cached", "frame"), ("cached", "stats"),
                                   ("done", "report")]


def test_an_entry_whose_own_manifest_disagrees_with_its_file_is_refused(place):
    files = entry_files()
    inner = json.loads(files["manifest.json"])
    inner["variables"][0]["sha256"] = "f" * 64  # the archive's checksums are consistent
    files["manifest.json"] = json.dumps(inner).encode()
    entries = {KEY: files}
    path = build(place / "inner.tar.gz", manifest_for(entries), valid_members(entries))
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert f"member 'entries/{KEY}/var0.bin' does not match the sha256 its entry's" \
        " manifest.json records" in one_line(result)
    assert_nothing_written(place, before)


def test_keygen_writes_a_private_key_that_signs_and_verifies(place, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(place / "config"))
    monkeypatch.delenv("CELLPIPE_ARCHIVE_KEY", raising=False)
    result = CliRunner().invoke(main, ["cache", "keygen"])
    assert result.exit_code == 0, result.output
    path = arc.key_file()
    assert path.is_relative_to(place / "config") and path.stat().st_mode & 0o777 == 0o600
    assert arc.configured_key() == path.read_text().strip().encode()
    again = CliRunner().invoke(main, ["cache", "keygen"])
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    entries = {KEY: entry_files()}
    raw = json.dumps(manifest_for(entries)).encode()
    sig = arc.sign(raw, arc.configured_key()).encode()
    signed = build(place / "signed.tar.gz", raw, valid_members(entries), signature=sig)
    result = cli_import(signed, place / "cache")  # no --trust, no terminal: signed is enough
    assert result.exit_code == 0 and "signed with your key" in result.output


def test_a_64mb_pax_header_is_refused_without_reading_it_into_memory(place):
    entries = {KEY: entry_files()}
    raw = json.dumps(manifest_for(entries)).encode()
    mib = 1 << 20
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 64 * mib
    zeros = gzip.compress(bytes(mib), mtime=0)
    path = place / "pax.tar.gz"
    with open(path, "wb") as out:
        out.write(gzip.compress(_tar_block(member("manifest.json", raw)[0], raw)
                                + pax.tobuf(format=tarfile.USTAR_FORMAT), mtime=0))
        for _ in range(64):
            out.write(zeros)
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert "a member's tar headers are larger than" in one_line(result)
    assert_nothing_written(place, before)


def test_megabytes_after_the_end_of_the_archive_are_refused(place):
    entries = {KEY: entry_files()}
    path = build(place / "ok.tar.gz", manifest_for(entries), valid_members(entries))
    with open(path, "ab") as out:  # an archive with a tail that only inflating would reveal
        out.write(gzip.compress(b"\0" * (16 << 20), mtime=0))
    before = files_under(place)
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert "of data follows the end of the tar archive" in one_line(result)
    assert_nothing_written(place, before)


def test_cache_export_takes_current_entries_with_ancestors_and_names_what_is_missing(
        place, monkeypatch):
    from cellpipe.engine import PipelineRunner, PythonExecutor
    from cellpipe.model import pipeline_from_notebook

    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(place / "cache"))
    nb = make_notebook([("x = 1\nprint('one')", "a", []), ("y = x + 1", "b", ["a"]),
                        ("z = y * 2", "c", ["b"]), ("w = 0", "d", [])])
    path = place / "nb.ipynb"
    nbformat.write(nb, path)
    never = CliRunner().invoke(main, ["cache", "export", str(path), "-o", str(place / "x.tgz")])
    assert never.exit_code == 1 and "no component has a current result" in never.output
    store = CacheStore(place / "cache", notebook=str(path.resolve()))
    runner = PipelineRunner(store, PythonExecutor())
    keys = runner.run(pipeline_from_notebook(nb), "b").plan.keys
    assert store.flush() == []
    out = place / "b.tar.gz"
    result = CliRunner().invoke(main, ["cache", "export", str(path), "-c", "b", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 entries" in result.output and "not exported" not in result.output
    with tarfile.open(out, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json"
    assert [e["key"] for e in manifest["entries"]] == [keys["a"], keys["b"]]
    for entry in manifest["entries"]:
        for f in entry["files"]:
            data = (place / "cache" / "entries" / entry["key"] / f["name"]).read_bytes()
            assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
            assert f"entries/{entry['key']}/{f['name']}" in names
    everything = CliRunner().invoke(main, ["cache", "export", str(path), "-o", str(out)])
    assert everything.exit_code == 0
    assert "not exported: c: no current result on disk (never run); run it first" \
        in everything.output
    assert "not exported: d" in everything.output
    nowhere = CliRunner().invoke(main, ["cache", "export", str(path), "-o",
                                        str(place / "no" / "dir.tar.gz")])
    assert nowhere.exit_code == 1 and "No such file or directory" in nowhere.output


def test_export_and_import_stream_instead_of_holding_the_archive(place):
    """A 48 MB entry goes out and comes back with a few MB of Python memory in use."""
    import tracemalloc

    big = os.urandom(48 << 20)  # incompressible: the archive is as big as the data
    files = entry_files()
    inner = json.loads(files["manifest.json"])
    inner["variables"][0].update(sizes=[len(big)], sha256=hashlib.sha256(big).hexdigest())
    folder = place / "src" / "entries" / KEY
    folder.mkdir(parents=True)
    (folder / "var0.bin").write_bytes(big)
    (folder / "manifest.json").write_text(json.dumps(inner))
    del big
    selection = arc.Selection([arc.ExportEntry(KEY, "load", "load", arc.entry_files(folder))])
    out = place / "big.tar.gz"
    arc.manifest_schema()  # module imports are not what is measured
    arc.import_archive(build(place / "warm.tar.gz", manifest_for({KEY: entry_files()}),
                             valid_members({KEY: entry_files()})),
                       CacheStore(place / "warm"), dry_run=True)
    tracemalloc.start()
    try:
        arc.export_archive(selection, out)
        export_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        summary = arc.import_archive(out, CacheStore(place / "cache"), confirm=lambda s: True)
        import_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.stat().st_size > 48 << 20
    assert summary.imported == 1
    assert (place / "cache" / "entries" / KEY / "var0.bin").read_bytes() == \
        (folder / "var0.bin").read_bytes()
    assert export_peak < 16 << 20 and import_peak < 16 << 20, (export_peak, import_peak)


def test_imported_entries_are_private(place):
    entries = {KEY: entry_files()}
    path = build(place / "ok.tar.gz", manifest_for(entries), valid_members(entries))
    assert cli_import(path, place / "cache", "--trust").exit_code == 0
    folder = place / "cache" / "entries" / KEY
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in folder.iterdir()} == {0o600}


def _engine_entry(place):
    """The files of a real entry the engine wrote (numpy array), by name."""
    from cellpipe.engine import PipelineRunner, PythonExecutor
    from cellpipe.model import pipeline_from_notebook

    nb = make_notebook([("import numpy as np\nx = np.arange(1000.0)", "load", [])])
    store = CacheStore(place / "made")
    key = PipelineRunner(store, PythonExecutor()).run(pipeline_from_notebook(nb),
                                                      "load").plan.keys["load"]
    assert store.flush() == []
    folder = store.disk.entry_dir(key)
    names = ["manifest.json", *(v["file"] for v in json.loads(
        (folder / "manifest.json").read_text())["variables"])]
    return key, {n: (folder / n).read_bytes() for n in names}


@pytest.mark.parametrize("damage, says", [
    ("manifest", "manifest.json' is not usable (manifest.json was altered)"),
    ("value", "does not match the fingerprint/xxh3 its entry's manifest.json records"),
])
def test_entries_the_disk_store_would_reject_are_refused(place, damage, says):
    key, files = _engine_entry(place)
    if damage == "manifest":
        inner = json.loads(files["manifest.json"])
        inner["name"] = "renamed"  # the entry's own checksum no longer matches
        files["manifest.json"] = json.dumps(inner).encode()
    else:
        var = next(n for n in files if n != "manifest.json")
        data = bytearray(files[var])
        data[-1] ^= 1  # the archive's sha256 is made to match; the entry's fingerprint cannot
        files[var] = bytes(data)
    entries = {key: files}
    path = build(place / "damaged.tar.gz", manifest_for(entries), valid_members(entries))
    before = files_under(place / "cache")
    result = cli_import(path, place / "cache", "--trust")
    assert result.exit_code == 1
    assert says in one_line(result), result.output
    assert files_under(place / "cache") == before == []
    intact = build(place / "intact.tar.gz", manifest_for({key: _engine_entry(place)[1]}),
                   valid_members({key: _engine_entry(place)[1]}))
    assert cli_import(intact, place / "cache", "--trust").exit_code == 0
    assert CacheStore(place / "cache").get(key).variables["x"] is not None
