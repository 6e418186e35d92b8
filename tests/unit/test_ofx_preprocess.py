"""OFX reading is linear in the number of transactions (issue 9): ofxparse's SGML preprocessing
looked each opening tag up in a list of every closing tag; ours uses a set and must produce
exactly the same text."""

from __future__ import annotations

import io
from pathlib import Path

import ofxparse.ofxparse as ofxparse_module
import pytest
from ofxparse.ofxparse import OfxPreprocessedFile

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
