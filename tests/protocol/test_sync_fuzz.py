"""Fuzzed document sync: long random sequences of incremental changes sent to the real server,
and after each batch the server's text must equal the client's.

The server is tests/nvim/scripted_server.py with ``EDITSEQ_TEST_QUERIES=1``, which registers
the test-only request ``editseq/test/documentText`` (create_server(test_queries=True); the
shipped server has no such request). The client side is a model of what an LSP client holds:
lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only, characters count UTF-16 code units, a character
past a line's end means the line's end. Edits mix inserts, deletes and replacements within and
across lines, with CRLF, lone CR, tabs, non-BMP characters, form feeds and U+2028 (which Python's
``splitlines`` breaks at and the LSP does not), empty documents, edits at the very end, and now
and then a whole-document replacement.

CI runs at least ``EDITSEQ_FUZZ_EDITS`` edits (default 10,000); ``EDITSEQ_FUZZ_LONG=1`` runs
the nightly-style long mode (200,000 unless EDITSEQ_FUZZ_EDITS says otherwise).
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.test_raw_frames import RawClient

LONG = os.environ.get("EDITSEQ_FUZZ_LONG") == "1"
TARGET_EDITS = int(os.environ.get("EDITSEQ_FUZZ_EDITS", "200000" if LONG else "10000"))
BREAK = re.compile(r"\r\n|\r|\n")

PIECES = ["a", "b", "x", "def f():", " ", "    ", "\t", "\n", "\r\n", "\r", "é", "日本", "😀", "𝔘",
          "\x0c", "\u2028", "\u0085", "#", "'", ""]
inserted = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


def units(character: str) -> int:
    return 2 if ord(character) > 0xFFFF else 1


class ClientDocument:
    """A document as an LSP client holds it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def lines(self) -> list[tuple[int, str]]:
        """(offset of the line's start, its content without the break) for every line."""
        starts = [0] + [m.end() for m in BREAK.finditer(self.text)]
        contents = BREAK.split(self.text)
        return list(zip(starts, contents))

    def offset(self, line: int, character: int) -> int:
        start, content = self.lines()[line]
        index, count = 0, 0
        while index < len(content) and count < character:
            count += units(content[index])
            index += 1
        return start + index

    def apply(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        a, b = self.offset(*start), self.offset(*end)
        self.text = self.text[:a] + text + self.text[b:]


@st.composite
def positions(draw, document: ClientDocument) -> tuple[int, int]:
    lines = document.lines()
    line = draw(st.sampled_from([0, len(lines) - 1, draw(st.integers(0, len(lines) - 1))]))
    content = lines[line][1]
    boundaries = [0]
    for character in content:
        boundaries.append(boundaries[-1] + units(character))
    if draw(st.integers(0, 9)) == 0:  # past the line's end: means the end
        return line, boundaries[-1] + draw(st.integers(1, 5))
    return line, draw(st.sampled_from(boundaries))


@st.composite
def edit(draw, document: ClientDocument) -> dict:
    if draw(st.integers(0, 40)) == 0:
        return {"text": draw(st.sampled_from(["", "\n", "x = 1\r\n"])) + draw(inserted)}
    first, second = draw(positions(document)), draw(positions(document))
    if (document.offset(*second), second) < (document.offset(*first), first):
        first, second = second, first  # a range's start comes first, as a position too
    kind = draw(st.sampled_from(["insert", "delete", "replace"]))
    if kind == "insert":
        second = first
    text = "" if kind == "delete" else draw(inserted)
    return {"range": {"start": {"line": first[0], "character": first[1]},
                      "end": {"line": second[0], "character": second[1]}}, "text": text}


@pytest.fixture(scope="module")
def server():
    client = RawClient()
    client.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                     "initializationOptions": {"diagnostics": False, "enabled": False}})
    client.notify("initialized", {})
    yield client
    client.request(2, "shutdown")
    client.notify("exit")
    client.process.wait(20)


def test_the_server_text_equals_the_client_text_after_every_batch(server):
    counter = {"edits": 0, "documents": 0, "batches": 0}

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def one_document(data):
        counter["documents"] += 1
        uri = f"file:///fuzz/doc{counter['documents']}.py"
        document = ClientDocument(data.draw(st.sampled_from(["", "\n", "x = 1\r\n"]) | inserted))
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": document.text}})
        version = 1
        for _ in range(data.draw(st.integers(1, 12))):
            changes = []
            for _ in range(data.draw(st.integers(1, 12))):
                change = data.draw(edit(document))
                if "range" in change:
                    r = change["range"]
                    document.apply((r["start"]["line"], r["start"]["character"]),
                                   (r["end"]["line"], r["end"]["character"]), change["text"])
                else:
                    document.text = change["text"]
                changes.append(change)
            version += 1
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                      "contentChanges": changes})
            counter["edits"] += len(changes)
            counter["batches"] += 1
            server.send({"jsonrpc": "2.0", "id": f"q{counter['batches']}",
                         "method": "editseq/test/documentText", "params": {"uri": uri}})
            reply = server.reply()
            assert reply["result"] == {"text": document.text, "version": version}, changes
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    while counter["edits"] < TARGET_EDITS:
        one_document()
    print(f"sync fuzz: {counter['edits']} edits in {counter['batches']} batches over "
          f"{counter['documents']} documents, no divergence")
    assert counter["edits"] >= TARGET_EDITS
