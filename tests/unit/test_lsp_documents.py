"""Documents count lines as the LSP does (editseq.lsp.protocol.LspTextDocument), where pygls'
TextDocument uses str.splitlines and lets a character past a line's end cross the line break."""

import pytest
from editseq.lsp.protocol import LspPositionCodec, LspTextDocument, lsp_lines
from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec


def change(line: int, character: int, end_line: int, end_character: int, text: str):
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=line, character=character),
                          end=types.Position(line=end_line, character=end_character)), text=text)


def edited(text: str, *changes, cls=LspTextDocument, codec=LspPositionCodec) -> str:
    document = cls("file:///x.py", text, position_codec=codec())
    for c in changes:
        document.apply_change(c)
    return document.source


def test_lines_end_only_at_lf_crlf_and_cr():
    assert lsp_lines("a\nb\r\nc\rd") == ["a\n", "b\r\n", "c\r", "d"]
    assert lsp_lines("form\x0cfeed\u2028sep\u0085nel\n") == ["form\x0cfeed\u2028sep\u0085nel\n"]
    assert lsp_lines("") == [] and lsp_lines("\n") == ["\n"]


@pytest.mark.parametrize(("text", "edit", "expected"), [
    ("a\x0cb\nc\n", change(1, 0, 1, 1, "Z"), "a\x0cb\nZ\n"),  # line 1 is "c", not "b"
    ("x\u2028y\nz", change(1, 1, 1, 1, "!"), "x\u2028y\nz!"),
    ("ab\ncd\n", change(0, 9, 0, 9, "!"), "ab!\ncd\n"),  # past the end: at the end, not after \n
    ("ab", change(0, 5, 0, 5, "!"), "ab!"),  # the last line has no break
    ("\n", change(0, 0, 0, 1, ""), "\n"),  # (0, 1) on an empty line is its end: nothing deleted
    ("a\r\nb", change(0, 3, 1, 0, ""), "ab"),  # from line 0's end across the CRLF
    ("", change(0, 0, 0, 0, "new"), "new"),
    ("a\n", change(1, 0, 1, 0, "b"), "a\nb"),  # at the very end
    ("a\n", change(5, 0, 5, 0, "b"), "a\nb"),  # past the last line: the end of the document
    ("😀x", change(0, 2, 0, 3, "y"), "😀y"),  # UTF-16: the emoji is 2 units
])
def test_incremental_changes_follow_the_lsp(text, edit, expected):
    assert edited(text, edit) == expected


def test_pygls_text_document_still_diverges():
    """Why LspTextDocument exists; if this fails, pygls fixed it and the override may go."""
    wrong = [
        edited("a\x0cb\nc\n", change(1, 0, 1, 1, "Z"), cls=TextDocument, codec=PositionCodec),
        edited("\n", change(0, 0, 0, 1, ""), cls=TextDocument, codec=PositionCodec),
        edited("ab", change(0, 5, 0, 5, "!"), cls=TextDocument, codec=PositionCodec),
    ]
    assert wrong != ["a\x0cb\nZ\n", "\n", "ab!"], "pygls now follows the LSP here"


def test_positions_and_lines_agree_for_the_features():
    document = LspTextDocument("file:///x.py", "a\x0cb\nc = 1\n", position_codec=LspPositionCodec())
    assert document.lines == ("a\x0cb\n", "c = 1\n")
    assert document.offset_at_position(types.Position(line=1, character=2)) == 6
