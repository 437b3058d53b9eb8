"""The sources folder as a library: add files (copied in, names made safe), remove, list.

Metadata lives in `sources/sources.toml`, one table per file. Tables are appended and removed as
text, so the comments and layout people gave the file survive.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import NO_INDEXABLE_TEXT, clean_document
from ingest.readers import METADATA_FILE, SUPPORTED_SUFFIXES, ReadError, Skipped, load_metadata, read_document

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Added:
    file: str
    title: str
    replaced: bool


def safe_name(name: str) -> str:
    """A plain file name that cannot leave the sources folder: no folders, no dot-files, no controls."""
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" ._") or "document"
    return f"{stem[:120]}{suffix}"


def _files_under(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            found.append(path)
    return found


def _toml_table(name: str, fields: dict) -> str:
    lines = [f"\n[{json.dumps(name, ensure_ascii=False)}]"]
    for key, value in fields.items():
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _remove_table(text: str, name: str) -> str:
    """The TOML text without the table headed `["name"]` (up to the next table header)."""
    header = re.compile(r"^\[" + re.escape(json.dumps(name, ensure_ascii=False)) + r"\]\s*$", re.MULTILINE)
    match = header.search(text)
    if not match:
        return text
    following = re.compile(r"^\[", re.MULTILINE).search(text, match.end())
    end = following.start() if following else len(text)
    return text[: match.start()] + text[end:]


def add_sources(paths: list[Path], sources_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Added], list[Skipped]]:
    """Copy files (folders are walked) into `sources_dir`, each checked readable first.

    A file with the name of an existing source replaces it (a changed version of the same report).
    Its metadata table is written with the title read from the document, for people to complete.
    """
    sources_dir.mkdir(parents=True, exist_ok=True)
    metas = load_metadata(sources_dir)
    added: list[Added] = []
    skipped: list[Skipped] = []
    for path in _files_under(paths):
        name = safe_name(path.name)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append(Skipped(path.name, f"unsupported file type {path.suffix or '(none)'!r}"))
            continue
        if path.stat().st_size > max_bytes:
            skipped.append(Skipped(path.name, f"larger than {max_bytes // (1024 * 1024)} MB"))
            continue
        try:
            document = clean_document(read_document(path, path.parent))
        except ReadError as exc:
            skipped.append(Skipped(path.name, str(exc)))
            continue
        if not document.paragraphs:
            skipped.append(Skipped(path.name, NO_INDEXABLE_TEXT))
            continue
        target = sources_dir / name
        replaced = target.exists()
        tmp = sources_dir / f".{name}.part"
        shutil.copyfile(path, tmp)
        tmp.replace(target)
        if name not in metas:
            fields = {
                "title": document.meta.title,
                "authors": list(document.meta.authors),
                "publisher": "",
                "date": document.meta.date,
                "url": "",
                "added": time.strftime("%Y-%m-%d"),
            }
            with (sources_dir / METADATA_FILE).open("a", encoding="utf-8") as fh:
                fh.write(_toml_table(name, fields))
        added.append(Added(name, document.meta.title or name, replaced))
    return added, skipped


def remove_source(name: str, sources_dir: Path) -> None:
    """Delete a source file and its metadata table. Raises FileNotFoundError naming what exists."""
    target = sources_dir / safe_name(name)
    if not target.is_file() or target.parent.resolve() != sources_dir.resolve():
        known = ", ".join(sorted(p.name for p in sources_dir.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES))
        raise FileNotFoundError(f"no source named {name!r} in {sources_dir} (sources: {known or 'none'})")
    target.unlink()
    meta_path = sources_dir / METADATA_FILE
    if meta_path.exists():
        meta_path.write_text(_remove_table(meta_path.read_text(encoding="utf-8"), target.name), encoding="utf-8")
