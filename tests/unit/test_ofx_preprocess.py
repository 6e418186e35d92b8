"""OFX reading is linear in the number of transactions (issue 9): ofxparse's SGML preprocessing
looked each opening tag up in a list of every closing tag; ours uses a set and must produce
exactly the same text."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable
from pathlib import Path

import ofxparse.ofxparse as ofxparse_module
import pytest
from bs4.element import PageElement
from ofxparse.ofxparse import OfxPreprocessedFile

from solodesk.connectors.bank.errors import BankFileError
from solodesk.connectors.bank.importer import read_statement_file
from solodesk.connectors.bank.ofx import _PreprocessedFile
from tests.bench.bench_bank import write_ofx

DATA = Path(__file__).resolve().parents[1] / "data" / "bank"


def _files(tmp: Path) -> list[Path]:
    generated = tmp / "generated.ofx"
    write_ofx(generated, 300)
    return sorted(DATA.rglob("*.ofx")) + sorted(DATA.rglob("*.qfx")) + [generated]


def test_same_preprocessed_text_as_ofxparse(tmp_path: Path) -> None:
    files = _files(tmp_path)
    assert len(files) > 3
    for path in files:
        data = path.read_bytes()
        try:
            theirs = OfxPreprocessedFile(io.BytesIO(data))
        except Exception as exc:  # the same failure, then
            with pytest.raises(type(exc)):
                _PreprocessedFile(io.BytesIO(data))
            continue
        ours = _PreprocessedFile(io.BytesIO(data))
        assert ours.headers == theirs.headers, path
        assert ours.fh.read() == theirs.fh.read(), path


def test_reading_puts_ofxparse_back_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.ofx"
    write_ofx(path, 20)
    fmt, statements, _digest = read_statement_file(path)
    assert fmt == "ofx" and len(statements[0].lines) == 20
    assert ofxparse_module.OfxPreprocessedFile is OfxPreprocessedFile
    assert ofxparse_module.soup_maker is _SOUP_MAKER


_SOUP_MAKER = ofxparse_module.soup_maker


def _parse_trees_left(read: Callable[[], object]) -> int:
    """How many BeautifulSoup elements ``read`` leaves linked in a tree for the cyclic garbage
    collector (a failed read's traceback may keep a few destroyed, unlinked ones a moment)."""
    gc.collect()
    gc.disable()
    try:
        try:
            read()
        except BankFileError:
            pass
        return sum(isinstance(o, PageElement) and not o.decomposed for o in gc.get_objects())
    finally:
        gc.enable()
        gc.collect()


def test_reading_leaves_no_parse_tree_to_the_cyclic_collector(tmp_path: Path) -> None:
    """The parse tree (reference cycles, ~35 objects per line) is destroyed by the reading
    thread, not left to a full collection (on the GUI thread in the app: ~200 ms at 5,000
    lines, issue 9)."""
    path = tmp_path / "s.ofx"
    write_ofx(path, 200)
    _fmt, statements, _digest = read_statement_file(path)  # warm (imports, caches)
    left = _parse_trees_left(lambda: read_statement_file(path))
    assert left == 0
    again = read_statement_file(path)[1]
    assert again == statements  # reading is unchanged: the tree is destroyed after it is read
    bad = tmp_path / "bad.ofx"
    bad.write_text(path.read_text(encoding="utf-8").replace("<TRNAMT>", "<TRNAMT>x", 1),
                   encoding="utf-8")
    with pytest.raises(BankFileError, match="line"):
        read_statement_file(bad)
    assert _parse_trees_left(lambda: read_statement_file(bad)) == 0
