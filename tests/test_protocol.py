"""One protocol: the Python definition, the TypeScript types, the docs and the kernel agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from nbutil import make_notebook

from cellpipe.kernel import protocol, protocol_gen

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
REGENERATE = "python -m cellpipe.kernel.protocol_gen --typescript > src/protocol.ts"


# REST replies (src/rest.ts, over cellpipe/server/) carry ops of their own, not kernel messages
_NOT_KERNEL = {"protocol.ts", "rest.ts", "server.ts"}


def _ts_sources() -> dict[Path, str]:
    """The front end's sources that talk to the kernel (not the REST layer, not unit tests)."""
    return {p: p.read_text() for p in sorted(SRC.rglob("*.ts*"))
            if p.name not in _NOT_KERNEL and "__tests__" not in p.parts}


def _literal_union(text: str, name: str) -> set[str]:
    """The values of `export type NAME = 'a' | 'b';` in a TypeScript source."""
    match = re.search(rf"export type {name}\s*=\s*([^;]+);", text)
    assert match, f"type {name} not found"
    return set(re.findall(r"'([^']+)'", match[1]))


def _switch_cases(text: str, subject: str) -> list[str]:
    """The `case 'x':` labels of every `switch (....SUBJECT)` in a TypeScript source."""
    found = []
    for match in re.finditer(rf"switch \(([\w.]*\b{subject})\) {{", text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found += re.findall(r"case '([^']+)':", text[match.end():end])
    return found


def test_typescript_types_are_generated_from_the_python_protocol():
    committed = (SRC / "protocol.ts").read_text()
    assert committed == protocol_gen.typescript(), (
        f"src/protocol.ts is not what cellpipe/kernel/protocol.py generates: run `{REGENERATE}`"
    )


def test_docs_reference_is_generated_from_the_python_protocol():
    text = (ROOT / "docs" / "protocol.md").read_text()
    begin, end = text.find(protocol_gen.MARKDOWN_BEGIN), text.find(protocol_gen.MARKDOWN_END)
    assert begin >= 0 and end > begin, "docs/protocol.md lacks the generated section markers"
    section = text[begin:end + len(protocol_gen.MARKDOWN_END)] + "\n"
    assert section == protocol_gen.markdown(), (
        "docs/protocol.md's generated section is out of date: replace it with the output of "
        "`python -m cellpipe.kernel.protocol_gen --markdown`"
    )


def test_front_end_uses_only_ops_the_protocol_knows():
    known = set(get_args(protocol.RequestOp)) | set(get_args(protocol.MessageOp))
    used: dict[str, set[str]] = {}
    for path, text in _ts_sources().items():
        ops = re.findall(r"\bop\s*(?:===|!==|:)\s*'([^']+)'", text) + _switch_cases(text, "op")
        for op in ops:
            used.setdefault(op, set()).add(path.name)
    assert used, "no ops found in src/: the pattern no longer matches the code"
    unknown = {op: files for op, files in used.items() if op not in known}
    assert not unknown, f"src/ uses ops the Python protocol does not define: {unknown}"
    # the front end handles every kernel message it can get and sends every request
    assert set(get_args(protocol.MessageOp)) - {"plan"} <= set(used)


def test_front_end_compares_statuses_only_with_known_values():
    sources = _ts_sources()
    tokens = (SRC / "tokens.ts").read_text()
    kernel_ts = (SRC / "kernel.ts").read_text()
    known = (
        set(get_args(protocol.StateStatus)) | set(get_args(protocol.EventStatus))
        | set(get_args(protocol.RunStatus))
        | _literal_union(tokens, "FrontEndStatus")  # statuses the front end derives itself
        | _literal_union(kernel_ts, "LinkStatus")  # the comm link, not a component
    )
    found: dict[str, set[str]] = {}
    for path, text in sources.items():
        if path.name in ("kernel.ts", "runner.ts"):
            continue  # Jupyter's own kernel and execute statuses
        pattern = r"\bstatus\s*(?:===|!==)\s*'([^']+)'|'([^']+)'\s*(?:===|!==)\s*[\w.]*status\b"
        values = [a or b for a, b in re.findall(pattern, text)] + _switch_cases(text, "status")
        for value in values:
            found.setdefault(value, set()).add(path.name)
    assert found, "no status comparisons found in src/: the pattern no longer matches the code"
    unknown = {v: files for v, files in found.items() if v not in known}
    assert not unknown, f"src/ compares statuses with values the protocol does not know: {unknown}"


def test_every_status_has_a_label_in_the_graph():
    """statusLabel() in the graph view has a case for each status the kernel can send."""
    text = (SRC / "components" / "GraphView.tsx").read_text()
    body = text[text.index("export function statusLabel"):]
    body = body[:body.index("\n}\n")]
    cases = set(re.findall(r"case '([^']+)':", body))
    needed = set(get_args(protocol.StateStatus)) | set(get_args(protocol.EventStatus))
    assert needed <= cases, f"statuses without a label: {sorted(needed - cases)}"


def test_checker_rejects_what_the_front_end_would_not_know():
    assert protocol.check_message({"op": "state", "components": {}, "problems": [],
                                   "notices": [], "parameters": {}}) == []
    bad_status = {"op": "state", "problems": [], "notices": [], "parameters": {},
                  "components": {"a": {"name": "A", "status": "weird", "reason": None,
                                       "parents": []}}}
    assert any("'components'" in p for p in protocol.check_message(bad_status))
    assert protocol.check_message({"op": "telepathy"}) == ["unknown op 'telepathy' (phase None)"]
    assert "RunEndMessage: missing field 'elapsed'" in protocol.check_message(
        {"op": "run", "phase": "end", "run_id": "r", "target": "t", "status": "ok"})
    assert "EventMessage: unknown field 'colour'" in protocol.check_message(
        {"op": "event", "run_id": "r", "target": "t", "id": "a", "name": "A", "status": "done",
         "elapsed": 1, "reason": None, "worker": None, "colour": "red"})


@pytest.fixture
def kernel_messages(kernel):
    """Every comm message the kernel sent while a pipeline was synced, planned and run."""
    nb = make_notebook([
        ("a = 1", "a", []),
        ("b = a / 0", "b", ["a"]),
        ("c = b", "c", ["b"]),
        ("x = 1", "x", ["y"]),
        ("y = 1", "y", ["x"]),  # a cycle: x and y are invalid
    ], parameters={"lr": {"type": "float", "value": 0.1}})
    replies = [kernel.sync(nb), kernel.request({"op": "state"}),
               kernel.request({"op": "plan", "target": "c"}),
               kernel.request({"op": "targets", "mode": "downstream", "id": "a"}),
               kernel.request({"op": "captured", "id": "a"}),
               kernel.request({"op": "check_edge", "parent": "c", "child": "a"}),
               kernel.request({"op": "check_edge", "parent": "a", "child": "c"}),
               kernel.request({"op": "nonsense"})]
    kernel.events.clear()
    kernel.run("c")
    kernel.run("a")
    return replies, list(kernel.events)


def test_every_message_the_kernel_sends_fits_the_protocol(kernel_messages):
    replies, events = kernel_messages
    assert [r["op"] for r in replies] == ["state", "state", "plan", "targets", "captured",
                                          "error", "edge_ok", "error"]
    assert {e["op"] for e in events} == {"run", "event", "state"}
    for message in replies + events:
        assert protocol.check_message(message) == [], message
    statuses = replies[0]["components"]
    assert statuses["x"]["status"] == "invalid" and statuses["y"]["status"] == "invalid"
    after = [e for e in events if e["op"] == "state"][0]["components"]
    assert after["b"]["status"] == "error"
    assert ("b", "error") in [(e["id"], e["status"]) for e in events if e["op"] == "event"]
    assert [e["status"] for e in events if e["op"] == "run" and e["phase"] == "end"] == [
        "error", "ok"]


def test_a_run_request_travels_as_cell_code_and_is_checked_on_arrival():
    request = {"op": "run", "target": "c", "parameters": {"lr": 0.1, "tag": "a b'\"{x}"},
               "force": True}
    code = protocol.run_code(request)
    assert code.startswith(protocol.RUN_MAGIC + " ") and "\n" not in code
    assert protocol.read_run_request(code[len(protocol.RUN_MAGIC) + 1:]) == request
    for text, problem in (("{", "must be JSON"), ('{"op": "plan", "target": "c"}', "not a run"),
                          ('{"op": "run"}', "missing field 'target'"),
                          ('{"op": "run", "target": "c", "force": "yes"}', "'force'")):
        with pytest.raises(ValueError, match=problem):
            protocol.read_run_request(text)
