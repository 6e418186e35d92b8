"""Decoding mail text by its charset label, as browsers do.

Mail labels its text with a charset (RFC 2045 ``charset=``, RFC 2047 encoded words), and real
mail often gets the label wrong in the same few ways browsers met long ago: text labelled
``gb2312`` that uses GBK/GB18030 characters, ``iso-8859-1`` or ``us-ascii`` labels on Windows-1252
text (curly quotes, €), UTF-8 sent under a legacy label. The WHATWG Encoding Standard
(https://encoding.spec.whatwg.org/, "Names and labels") maps each label to the superset encoding
that decodes such text correctly; :data:`WHATWG_SUPERSETS` applies those mappings with Python's
codecs. UTF-8 validates itself: non-ASCII bytes that form valid UTF-8 are read as UTF-8 whatever
the label, because legacy-encoded text almost never forms valid multi-byte UTF-8 by chance.
"""

from __future__ import annotations

import codecs

#: Labels (lower case) whose WHATWG encoding is a superset of what the label names, mapped to
#: the Python codec that implements that superset.
WHATWG_SUPERSETS: dict[str, str] = {
    # windows-1252 (WHATWG: "ascii", "iso-8859-1", "latin1", "us-ascii", ... are its labels)
    **dict.fromkeys(
        (
            "ascii", "us-ascii", "ansi_x3.4-1968", "iso-ir-100", "iso8859-1", "iso88591",
            "iso_8859-1", "iso_8859-1:1987", "iso-8859-1", "l1", "latin1", "latin-1", "cp819",
            "ibm819", "csisolatin1", "cp1252", "windows-1252", "x-cp1252", "us", "646",
        ),
        "cp1252",
    ),
    # windows-1254 is the WHATWG encoding for ISO-8859-9 labels
    **dict.fromkeys(
        ("iso-8859-9", "iso8859-9", "iso88599", "iso_8859-9", "latin5", "l5", "windows-1254"),
        "cp1254",
    ),
    # windows-874 for TIS-620 and ISO-8859-11
    **dict.fromkeys(("tis-620", "iso-8859-11", "iso8859-11", "windows-874", "dos-874"), "cp874"),
    # GBK and GB2312 labels decode as GB18030 (a superset of both)
    **dict.fromkeys(
        (
            "gb2312", "gb_2312", "gb_2312-80", "csgb2312", "chinese", "iso-ir-58", "gbk",
            "x-gbk", "cp936", "ms936", "windows-936", "euc-cn", "gb18030",
        ),
        "gb18030",
    ),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"), "big5hkscs"),
    # WHATWG Shift_JIS is Microsoft's windows-31j; WHATWG EUC-KR is windows-949
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "ms_kanji", "csshiftjis", "windows-31j", "x-sjis"),
        "cp932",
    ),
    **dict.fromkeys(
        ("euc-kr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "korean",
         "csksc56011987", "iso-ir-149", "windows-949", "cp949"),
        "cp949",
    ),
}

#: Labels that say nothing about the encoding: the text is decoded by detection.
UNKNOWN_LABELS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default", "none"})

_WIDE = ("utf-16", "utf_16", "utf-32", "utf_32", "utf16", "utf32")


def _c1_passthrough(exc: UnicodeError) -> tuple[str, int]:
    """Map the five bytes Windows-1252 leaves undefined to U+0080..U+009F, as WHATWG does."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(b) for b in bad), exc.end


codecs.register_error("solodesk-c1", _c1_passthrough)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, with the WHATWG superset applied.

    Args:
        label: A MIME charset label (case-insensitive), e.g. ``"GB2312"``.

    Returns:
        A codec name (``"gb18030"`` for ``gb2312``, ``"cp1252"`` for ``iso-8859-1``), or None
        when the label is missing, unknown to Python, or says nothing (``unknown-8bit``).
    """
    name = (label or "").strip().strip("\"'").lower()
    if name in UNKNOWN_LABELS:
        return None
    if name in WHATWG_SUPERSETS:
        return WHATWG_SUPERSETS[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _is_wide(codec: str | None) -> bool:
    return codec is not None and codec.replace("-", "_").startswith(_WIDE)


def decode_labelled(data: bytes, label: str | None) -> str | None:
    """Decode ``data`` labelled ``label`` strictly; None when the label cannot decode it.

    Valid non-ASCII UTF-8 is decoded as UTF-8 whatever an ASCII-compatible label says; then the
    label's WHATWG superset is tried. Windows-1252's five undefined bytes decode to the C1
    control characters (as WHATWG does), never to an error.
    """
    codec = codec_for(label)
    if not _is_wide(codec) and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec is None:
        return data.decode("ascii") if data.isascii() else None
    try:
        if codec == "cp1252":
            return data.decode("cp1252", errors="solodesk-c1")
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_header_bytes(data: bytes, label: str | None) -> str:
    """Decode one RFC 2047 encoded word (or raw 8-bit header bytes); never raises.

    Falls back to Windows-1252 (which decodes every byte) when the label cannot decode it.
    """
    text = decode_labelled(data, label)
    if text is None:
        text = data.decode("cp1252", errors="solodesk-c1")
    return text
