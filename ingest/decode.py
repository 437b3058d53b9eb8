"""Bytes of a text file -> str: byte-order marks, UTF-8, UTF-16/32, then charset-normalizer.

A file is decoded only when its encoding is known (a BOM, valid UTF-8, the NUL pattern of UTF-16/32)
or detected with confidence; otherwise DecodeError says why, so mojibake never reaches the index.
"""

from __future__ import annotations

import codecs
import unicodedata

from ingest.extracted import FormatError

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 1 << 16
# Typographic characters Windows-1252 adds to Latin-1; with letters they are what a Western text holds.
_TYPOGRAPHY = set("“”‘’„‚—–…€•·«»°±×÷§¶©®™ªº¹²³¼½¾¡¿ ")
_ALLOWED_CONTROLS = set("\t\n\r\f\v")


class DecodeError(ValueError):
    """The bytes are not text, or their encoding cannot be told with confidence."""


def _bom_encoding(data: bytes) -> tuple[str, int] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16/32 without a BOM, told by where the NUL bytes of mostly-Latin text fall."""
    sample = data[:_SAMPLE]
    if len(sample) < 4:
        return None
    quads = [sample[i::4] for i in range(4)]
    share = [q.count(0) / max(1, len(q)) for q in quads]
    if share[1] > 0.9 and share[2] > 0.9 and share[3] > 0.4 and share[0] < 0.1:
        return "utf-32-le"
    if share[0] > 0.4 and share[1] > 0.9 and share[2] > 0.9 and share[3] < 0.1:
        return "utf-32-be"
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / max(1, len(odd))
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _check_text(text: str) -> str:
    """The text, unless control characters say it is binary data read as text."""
    sample = text[:_SAMPLE]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS)
    if "\x00" in sample or controls > 0.01 * max(1, len(sample)):
        raise DecodeError("binary content (control bytes), not a text file")
    return text


def _plausible_cp1252(data: bytes) -> str | None:
    """Windows-1252 text when it reads as mostly-ASCII Western text (letters and typography only)."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    extra = [ch for ch in text if ord(ch) > 127]
    if len(extra) > 0.2 * max(1, len(text)):
        return None  # mostly non-ASCII: a Cyrillic, Greek or Asian text in another code page
    if all(ch.isalpha() or ch in _TYPOGRAPHY for ch in extra):
        return text
    return None


def _detected(data: bytes) -> str:
    """Text of a legacy-encoded file by charset-normalizer, only when the detection is unambiguous."""
    from charset_normalizer import from_bytes

    results = list(from_bytes(data))
    if not results:
        fallback = _plausible_cp1252(data)
        if fallback is not None:
            return fallback
        raise DecodeError("not text in any known encoding")
    best_chaos = min(r.chaos for r in results)
    calm = [r for r in results if r.chaos <= best_chaos + 0.02]
    best_coherence = max(r.coherence for r in calm)
    top = [r for r in calm if r.coherence >= best_coherence - 0.02]
    texts = {str(r) for r in top}
    if len(texts) == 1 and best_coherence > 0:
        return texts.pop()
    # Several readings fit equally well: Windows-1252, the legacy encoding of most Western text, when it is one.
    for result in top:
        if "cp1252" in result.could_be_from_charset:
            return str(result)
    fallback = _plausible_cp1252(data)
    if fallback is not None:
        return fallback
    names = ", ".join(dict.fromkeys(r.encoding for r in top[:4]))
    raise DecodeError(f"cannot tell the text encoding with confidence (it could be {names}); save it as UTF-8")


def _detected_wide(data: bytes) -> str | None:
    """UTF-16/32 text without a BOM, as charset-normalizer reads it, when every code point is assigned."""
    from charset_normalizer import from_bytes

    if len(data) < 32:
        return None  # too short to tell from binary
    best = from_bytes(data).best()
    if best is None or not best.encoding.startswith(("utf_16", "utf_32")) or best.chaos > 0.1:
        return None
    text = str(best)
    if any(unicodedata.category(ch) in ("Cn", "Co", "Cs") for ch in text[:_SAMPLE]):
        return None  # unassigned or private code points: bytes that only look like UTF-16
    return text


def decode_bytes(data: bytes) -> str:
    """Decode a text file's bytes. Raises DecodeError for binary data or an uncertain encoding."""
    bom = _bom_encoding(data)
    if bom is not None:
        encoding, skip = bom
        try:
            return _check_text(data[skip:].decode(encoding))
        except UnicodeDecodeError as exc:
            raise DecodeError(f"starts with a {encoding.upper()} byte-order mark but is not {encoding.upper()} ({exc.reason})") from exc
    if b"\x00" in data[:_SAMPLE]:
        # NUL bytes are valid UTF-8 but no text file holds them, unless it is UTF-16/32.
        wide = _wide_encoding(data)
        try:
            if wide is not None:
                return _check_text(data.decode(wide))
        except UnicodeDecodeError:
            pass
        text = _detected_wide(data)  # UTF-16 of a script whose code points rarely hold a zero byte
        if text is not None:
            return _check_text(text)
        raise DecodeError("binary content (NUL bytes), not a text file")
    try:
        return _check_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return _check_text(_detected(data))


def decode_text(data: bytes) -> str:
    """Decode a plain-text file (BOMs, UTF-8, UTF-16/32, detected legacy encodings); refuse binary
    content and encodings that cannot be told with confidence (FormatError, as every reader does)."""
    try:
        return decode_bytes(data)
    except DecodeError as exc:
        raise FormatError(str(exc)) from exc
