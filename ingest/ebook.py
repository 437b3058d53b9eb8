"""E-books (.epub) as text: the spine's documents in reading order, one page per chapter.

Read with zipfile and lxml (no e-book library needed): the container names the package file, whose
metadata gives title, creators and date, and whose spine gives the reading order. Each chapter's
XHTML becomes blocks (headings, paragraphs, list items, table rows) in document order. The table of
contents (the navigation document) is not a chapter. A DRM-encrypted chapter is refused, not read
as noise; fonts obfuscated by the EPUB rules are not text and do not matter.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from urllib.parse import unquote

from ingest.extracted import Extracted, FormatError, author_of, blocks_text, has_text, plain_reason
from ingest.limits import check_zipped

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
# Elements that start and end a block of text; everything else is inline (its text runs on).
BLOCKS = frozenset(
    "p h1 h2 h3 h4 h5 h6 li dt dd blockquote pre div section article aside header footer figcaption caption tr br hr".split()
)
SKIPPED = frozenset("script style head title nav".split())
CELLS = frozenset(("td", "th"))


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def html_blocks(markup: bytes) -> list[str]:
    """The text blocks of one (X)HTML document in order; a table row's cells joined by " | "."""
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.fromstring(markup)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise FormatError(f"unreadable chapter ({exc})") from exc
    blocks: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        text = " ".join("".join(buffer).split())
        if text:
            blocks.append(text)
        buffer.clear()

    def walk(element) -> None:
        tag = _local(element.tag)
        if tag in SKIPPED or not isinstance(element.tag, str):
            return  # comments and processing instructions have no text; their tails are taken by the caller
        block = tag in BLOCKS
        if block:
            flush()
        if tag in CELLS and buffer and "".join(buffer).strip():
            buffer.append(" | ")
        buffer.append(element.text or "")
        for child in element:
            walk(child)
            buffer.append(child.tail or "")
        if block:
            flush()

    body = root.find(".//body")
    walk(body if body is not None else root)
    flush()
    return blocks


def _xml(archive: zipfile.ZipFile, name: str):
    import lxml.etree

    try:
        return lxml.etree.fromstring(archive.read(name), parser=lxml.etree.XMLParser(resolve_entities=False, no_network=True))
    except KeyError as exc:
        raise FormatError(f"corrupt EPUB: {name} is missing") from exc
    except lxml.etree.XMLSyntaxError as exc:
        raise FormatError(f"corrupt EPUB: {name} is not well-formed ({exc})") from exc


def _package(archive: zipfile.ZipFile) -> str:
    container = _xml(archive, CONTAINER)
    rootfile = next((e.get("full-path") for e in container.iter() if _local(e.tag) == "rootfile" and e.get("full-path")), None)
    if not rootfile:
        raise FormatError("corrupt EPUB: the container names no package file")
    return rootfile


def _encrypted(archive: zipfile.ZipFile) -> set[str]:
    """Paths of resources encrypted by something other than the EPUB font obfuscation."""
    if ENCRYPTION not in archive.namelist():
        return set()
    found = set()
    for data in _xml(archive, ENCRYPTION).iter():
        if _local(data.tag) != "encrypteddata":
            continue
        method = next((e.get("Algorithm", "") for e in data.iter() if _local(e.tag) == "encryptionmethod"), "")
        if method in ("http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"):
            continue  # obfuscated fonts
        found.update(unquote(e.get("URI", "")) for e in data.iter() if _local(e.tag) == "cipherreference")
    return found


def _date(text: str) -> str:
    """A publication date as YYYY, YYYY-MM or YYYY-MM-DD (the date part of a timestamp)."""
    match = re.match(r"\d{4}(?:-\d{2}(?:-\d{2})?)?", text.strip())
    return match.group(0) if match else ""


def extract_epub(data: bytes) -> Extracted:
    """Chapters in spine order (one page each), with the book's title, creators and publication date."""
    check_zipped(data, "EPUB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FormatError(f"corrupt or unreadable EPUB ({plain_reason(exc)})") from exc
    with archive:
        try:
            package_path = _package(archive)
            package = _xml(archive, package_path)
            base = posixpath.dirname(package_path)
            manifest = {
                e.get("id"): (posixpath.normpath(posixpath.join(base, unquote(e.get("href", "")))), e.get("properties", ""))
                for e in package.iter()
                if _local(e.tag) == "item"
            }
            spine = [e.get("idref") for e in package.iter() if _local(e.tag) == "itemref" and e.get("linear", "yes") != "no"]
            encrypted = _encrypted(archive)
            pages = []
            for idref in spine:
                path, properties = manifest.get(idref, ("", ""))
                if not path or "nav" in properties.split():
                    continue
                if path in encrypted:
                    raise FormatError("encrypted (DRM-protected) EPUB: its chapters cannot be read")
                try:
                    pages.append(html_blocks(archive.read(path)))
                except KeyError as exc:
                    raise FormatError(f"corrupt EPUB: chapter {path} is missing") from exc
        except FormatError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:  # RuntimeError: an encrypted zip member
            raise FormatError(f"corrupt or unreadable EPUB ({plain_reason(exc)})") from exc
        metadata = {}
        for element in package.iter():
            name = _local(element.tag)
            if name in ("title", "creator", "date") and (element.text or "").strip():
                metadata.setdefault(name, []).append(" ".join(element.text.split()))
    if not has_text(pages):
        raise FormatError("the EPUB has no text")
    authors = tuple(a for name in metadata.get("creator", []) for a in author_of(name))
    return Extracted(
        blocks_text(pages),
        title=(metadata.get("title") or [""])[0],
        authors=authors,
        date=_date((metadata.get("date") or [""])[0]),
    )
