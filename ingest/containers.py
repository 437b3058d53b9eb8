"""Opening the zip containers that several formats share: Office Open XML (.docx .pptx .xlsx) and
OpenDocument (.odt .ods). Each refuses a locked, damaged or expanding file before its reader starts."""

from __future__ import annotations

import io

from ingest.extracted import FormatError, author_of, plain_reason
from ingest.limits import check_zipped

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def check_ooxml_container(data: bytes, kind: str) -> None:
    """Refuse an Office Open XML file that is not a zip: a password-protected one (an OLE container
    holding an EncryptedPackage) or an old binary file given the new extension."""
    if data.startswith(OLE_MAGIC):
        if ENCRYPTED_PACKAGE in data:
            raise FormatError(f"encrypted {kind} (password protected): save it without a password to index it")
        raise FormatError(f"not a {kind} file (an old binary Office file with a new extension? save it again as {kind})")


def open_odf(data: bytes, kind: str):
    """An OpenDocument file opened with odfpy, with its title and author; refuses encrypted, damaged
    or expanding ones."""
    import zipfile

    from odf import dc, meta
    from odf.opendocument import load

    check_zipped(data, kind)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = archive.read("META-INF/manifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FormatError(f"corrupt or unreadable {kind} ({plain_reason(exc)})") from exc
    if b"encryption-data" in manifest:
        raise FormatError(f"encrypted {kind} (password protected): save it without a password to index it")
    try:
        document = load(io.BytesIO(data))
    except Exception as exc:  # odfpy surfaces zip, XML and attribute errors of damaged files as they are
        raise FormatError(f"corrupt or unreadable {kind} ({plain_reason(exc)})") from exc

    def first(kind_type) -> str:
        from odf import teletype

        found = document.meta.getElementsByType(kind_type) if document.meta else []
        return " ".join(teletype.extractText(found[0]).split()) if found else ""

    author = first(dc.Creator) or first(meta.InitialCreator)
    return document, first(dc.Title), author_of(author)
