"""Issue 26, a hostile new user's findings about the sources' lifecycle, each reproduced first:
collections side by side sharing a trash, `add folder/` flattening and overwriting, replacement
keeping stale metadata and losing the old text, older removals unreachable, symbolic links followed,
cleaning changing .txt text and dropping sentences silently, and loose CLI argument checks."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import load_version
from ingest.clean import CARD, clean_document, dropped_text, normalize_line
from ingest.library import add_sources, list_trash, remove_source, restore_source
from ingest.metadata import load_metadata
from ingest.readers import read_sources, scan_sources, source_path

from conftest import SOURCES, cli_env

NOTE = "The harbour survey counted 212 fishing boats in 2024.\n"
WOLA_PAGE = "wola-podcast-page-grim-side-of-el-salvador-security-model.txt"
DRONE = "On September 2, a U.S. drone strike sank a small boat near the Venezuelan coast, killing as many as eleven civilians."


def _cli(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = cli_env(settings)
    env.pop("VERBATIM_TRASH_DIR", None)  # the default trash is the subject here
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, timeout=timeout)


# ---------------------------------------------------------------- 1: one trash per collection


def test_collections_side_by_side_do_not_share_a_trash(tmp_path):
    a = Settings(sources_dir=tmp_path / "a" / "sources", index_dir=tmp_path / "var" / "a")
    b = Settings(sources_dir=tmp_path / "b" / "sources", index_dir=tmp_path / "var" / "b")
    for settings in (a, b):
        settings.sources_dir.mkdir(parents=True)
    (a.sources_dir / "x.txt").write_text(NOTE)
    (a.sources_dir / "sources.toml").write_text('["x.txt"]\ntitle = "Harbour"\n')
    assert a.trash != b.trash and a.trash.parent == a.sources_dir

    run = _cli(a, "remove", "--no-build", "x.txt")
    assert run.returncode == 0, run.stderr
    listing = _cli(b, "restore", "--list")
    assert listing.stdout == "" and "holds no removed sources" in listing.stderr
    run = _cli(b, "restore", "--no-build", "x.txt")
    assert run.returncode == 2 and "no removed source named 'x.txt'" in run.stderr
    assert not (b.sources_dir / "x.txt").exists()

    assert _cli(a, "restore", "--list").stdout.startswith("x.txt\tremoved ")
    run = _cli(a, "restore", "--no-build", "x.txt")
    assert run.returncode == 0, run.stderr
    assert (a.sources_dir / "x.txt").read_text() == NOTE and load_metadata(a.sources_dir)["x.txt"].title == "Harbour"


def test_a_shared_trash_dir_still_keeps_collections_apart_and_the_old_trash_is_read_by_id(tmp_path):
    shared = tmp_path / "shared-trash"
    a_sources, b_sources = tmp_path / "a", tmp_path / "b"
    a_sources.mkdir()
    b_sources.mkdir()
    (a_sources / "x.txt").write_text(NOTE)
    remove_source("x.txt", a_sources, shared)
    assert list_trash(shared, b_sources) == []
    with pytest.raises(FileNotFoundError):
        restore_source("x.txt", b_sources, shared)
    assert [t.file for t in list_trash(shared, a_sources)] == ["x.txt"]

    # An entry of the old shared trash (var/trash beside the index folders), which names no collection.
    settings = Settings(sources_dir=b_sources, index_dir=tmp_path / "var" / "index")
    old = settings.old_trash / "20250101T000000-abcdef"
    old.mkdir(parents=True)
    (old / "old.txt").write_text("An old note about 9 ferries.\n")
    (old / "entry.json").write_text(json.dumps({"file": "old.txt", "removed": "2025-01-01T00:00:00", "table": ""}))
    listing = _cli(settings, "restore", "--list").stdout
    assert "old.txt\tremoved 2025-01-01T00:00:00\tid 20250101T000000-abcdef\tin the old shared trash" in listing
    run = _cli(settings, "restore", "--no-build", "old.txt")
    assert run.returncode == 2 and "restore its entries by id" in run.stderr
    run = _cli(settings, "restore", "--no-build", "20250101T000000-abcdef")
    assert run.returncode == 0, run.stderr
    assert (b_sources / "old.txt").read_text() == "An old note about 9 ferries.\n"


# ---------------------------------------------------------------- 2: folders keep their structure


def _random_tree(root: Path, rng: random.Random) -> dict[str, bytes]:
    """Files under `root` in random folders, many named alike; returns the ones a source folder gets."""
    expected: dict[str, bytes] = {}
    folders = [Path()]
    for _ in range(rng.randint(2, 6)):
        folders.append(rng.choice(folders) / rng.choice(["a", "b", "dup", "Sub Folder", "x"]))
    for number in range(rng.randint(3, 12)):
        folder = rng.choice(folders)
        name = rng.choice(["readme.txt", "notes.md", "readme.md", f"n{number}.txt"])
        (root / folder).mkdir(parents=True, exist_ok=True)
        data = f"Note {number} in {folder.as_posix() or 'the top'}: the survey counted {rng.randint(1, 999)} boats.\n".encode()
        (root / folder / name).write_bytes(data)
        expected[(folder / name).as_posix()] = data
    (root / ".hidden").mkdir(exist_ok=True)
    (root / ".hidden" / "secret.txt").write_text("hidden note\n")
    (root / ".dotfile.txt").write_text("hidden note\n")
    return expected


@pytest.mark.parametrize("seed", range(6))
def test_adding_a_folder_keeps_every_file_at_its_place(tmp_path, seed):
    rng = random.Random(seed)
    inbox = tmp_path / "inbox"
    expected = _random_tree(inbox, rng)
    sources = tmp_path / "sources"
    added, skipped = add_sources([inbox], sources)
    assert {(Path(s.file).name, s.reason) for s in skipped} == {
        (".hidden", "a hidden folder: not added"), (".dotfile.txt", "a hidden file: not added (rename it to add it)")
    }
    assert sorted(a.file for a in added) == sorted(expected) and not any(a.replaced for a in added)
    found = {p.relative_to(sources).as_posix(): p.read_bytes() for p in scan_sources(sources)[0]}
    assert found == expected  # nothing flattened, overwritten, lost or added
    assert sorted(load_metadata(sources)) == sorted(expected)
    assert list_trash(sources / ".trash") == []


def test_two_files_that_would_share_a_name_are_refused_by_name(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / "dup" / folder).mkdir(parents=True)
        (tmp_path / "dup" / folder / "readme.txt").write_text(f"Readme of {folder}\n\n{NOTE}")
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    run = _cli(settings, "add", "--no-build", str(tmp_path / "dup"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["added a/readme.txt: Readme of a", "added b/readme.txt: Readme of b"]
    # Two files given one by one would both be readme.txt: the second is refused, naming the first.
    run = _cli(settings, "add", "--no-build", str(tmp_path / "dup" / "a" / "readme.txt"), str(tmp_path / "dup" / "b" / "readme.txt"))
    assert run.stdout.startswith("added readme.txt: Readme of a")
    assert f"skipped {tmp_path / 'dup' / 'b' / 'readme.txt'}: would be readme.txt in the sources folder, as {tmp_path / 'dup' / 'a' / 'readme.txt'}" in run.stderr
    assert (settings.sources_dir / "readme.txt").read_text().startswith("Readme of a")


def test_nested_sources_are_built_and_shown_by_their_path(tmp_path, embedder):
    for folder in ("a", "b"):
        (tmp_path / "dup" / folder).mkdir(parents=True)
        (tmp_path / "dup" / folder / "readme.txt").write_text(f"The {folder} survey counted {ord(folder)} fishing boats.\n")
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    add_sources([tmp_path / "dup"], settings.sources_dir)
    build_index(settings, embedder=embedder)
    assert sorted(load_version(settings.index_dir).sources) == ["a/readme.txt", "b/readme.txt"]
    shown = _cli(settings, "show", "b/readme.txt")
    assert shown.returncode == 0, shown.stderr
    assert "The b survey counted 98 fishing boats." in shown.stdout
    # A name is looked up among the indexed sources, never opened on disk.
    for name in ("../../etc/passwd", "/etc/passwd", "../readme.txt"):
        escape = _cli(settings, "show", name)
        assert escape.returncode == 2 and "no source named" in escape.stderr and "root:" not in escape.stdout, name


# ---------------------------------------------------------------- 3: a replacement is a removal and an add


@pytest.mark.parametrize("metadata", ["new", "keep"])
@pytest.mark.parametrize("place", ["report.md", "sub/report.md"])
@pytest.mark.parametrize("edited", [True, False])
def test_a_replacement_goes_to_the_trash_and_the_metadata_follows_the_flag(tmp_path, metadata, place, edited):
    inbox = tmp_path / "inbox"
    (inbox / Path(place).parent).mkdir(parents=True, exist_ok=True)
    first, second = "# Harbour Survey 2024\n\n" + NOTE, "# Harbour Survey 2025\n\nThe survey counted 230 fishing boats in 2025.\n"
    (inbox / place).write_text(first)
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    add_sources([inbox], settings.sources_dir)
    toml = settings.sources_dir / "sources.toml"
    if edited:
        toml.write_text(toml.read_text().replace('publisher = ""', 'publisher = "Port Office"'))
    else:
        toml.write_text("")  # a source without a table: there is nothing to keep
    (inbox / place).write_text(second)
    run = _cli(settings, "add", "--no-build", "--metadata", metadata, str(inbox))
    assert run.returncode == 0, run.stderr
    kept = metadata == "keep" and edited
    assert run.stdout.startswith(f"updated {place}: Harbour Survey 2025 (the old version is in the trash: `verbatim restore ")
    assert ("metadata: kept" if kept else "metadata: new, from the document") in run.stdout
    meta = load_metadata(settings.sources_dir)[place]
    assert (meta.title, meta.publisher) == (("Harbour Survey 2024", "Port Office") if kept else ("Harbour Survey 2025", ""))

    [old] = list_trash(settings.trash)
    assert old.reason == "replaced" and old.path.read_text() == first
    assert f"id {old.id}\treplaced by a file of the same name" in _cli(settings, "restore", "--list").stdout
    # The old version comes back once the new one makes room, with the table it had.
    remove_source(place, settings.sources_dir, settings.trash)
    run = _cli(settings, "restore", "--no-build", old.id)
    assert run.returncode == 0, run.stderr
    assert (settings.sources_dir / place).read_text() == first
    restored = load_metadata(settings.sources_dir).get(place)
    assert (restored.publisher if restored else "") == ("Port Office" if edited else "")


def test_the_same_bytes_again_change_nothing(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(NOTE)
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    add_sources([note], settings.sources_dir)
    run = _cli(settings, "add", str(note))  # nothing changed: no build either
    assert run.returncode == 0 and run.stdout == "unchanged note.txt: the same bytes are already a source\n"
    assert list_trash(settings.trash) == []


# ---------------------------------------------------------------- 4: every removal can be restored


@pytest.mark.parametrize("versions", [2, 3, 5])
def test_every_listed_removal_can_be_restored_by_its_id(tmp_path, versions):
    sources = tmp_path / "sources"
    note = tmp_path / "note.txt"
    for version in range(versions):  # no pause: removals within one second keep their order
        note.write_text(f"Version {version}: the survey counted {version} boats.\n")
        add_sources([note], sources)
        remove_source("note.txt", sources)
    settings = Settings(sources_dir=sources, index_dir=tmp_path / "index")
    listed = _cli(settings, "restore", "--list").stdout.splitlines()
    ids = [line.split("\tid ")[1].split("\t")[0] for line in listed]
    assert len(set(ids)) == versions
    assert [t.path.read_text()[:9] for t in list_trash(sources / ".trash")] == [f"Version {v}" for v in reversed(range(versions))]
    for version, entry in zip(reversed(range(versions)), ids, strict=True):
        run = _cli(settings, "restore", "--no-build", entry)
        assert run.returncode == 0 and f"id {entry}" in run.stdout, run.stderr
        assert (sources / "note.txt").read_text().startswith(f"Version {version}:")
        remove_source("note.txt", sources)  # make room for the next; it goes to the trash again
    run = _cli(settings, "restore", "--no-build", "note.txt")  # by name: the latest removal
    assert run.returncode == 0 and (sources / "note.txt").read_text().startswith("Version 0:")


# ---------------------------------------------------------------- 6: symbolic links


def test_symbolic_links_are_never_followed(tmp_path, embedder):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The vault code is 48151623.\n")
    (outside / "more.txt").write_text("The second vault code is 42424242.\n")
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    sources = settings.sources_dir
    (sources / "real").mkdir(parents=True)
    (sources / "real" / "note.txt").write_text(NOTE)
    (sources / "passwd.txt").symlink_to("/etc/passwd")
    (sources / "secret.txt").symlink_to(outside / "secret.txt")
    (sources / "linked").symlink_to(outside, target_is_directory=True)
    (sources / "alias.txt").symlink_to(sources / "real" / "note.txt")
    (sources / "inner").symlink_to(sources / "real", target_is_directory=True)

    run = _cli(settings, "build")
    assert run.returncode == 0, run.stderr
    reasons = dict(line.removeprefix("skipped ").split(": ", 1) for line in run.stderr.splitlines() if line.startswith("skipped "))
    refused = "a symbolic link to a file outside the sources folder: refused (copy the file in with `verbatim add`)"
    assert reasons == {
        "alias.txt": "a symbolic link to real/note.txt, which is indexed once, under its own name",
        "inner/": "a symbolic link to the folder real of the sources folder: not followed (its files are indexed under their own paths)",
        "linked/": "a symbolic link to a folder outside the sources folder: refused (copy the folder in with `verbatim add`)",
        "passwd.txt": refused,
        "secret.txt": refused,
    }
    index = load_version(settings.index_dir)
    assert list(index.sources) == ["real/note.txt"]
    text = " ".join(p.text for p in index.passages)
    assert "root:" not in text and "48151623" not in text and "42424242" not in text
    # What the source view may read from disk (a PDF's page image) refuses links too.
    assert source_path(sources, "passwd.txt") is None and source_path(sources, "linked/more.txt") is None
    assert source_path(sources, "../sources/real/note.txt") is None and source_path(sources, "real/note.txt") == sources / "real" / "note.txt"
    shown = _cli(settings, "show", "passwd.txt")
    assert shown.returncode == 2 and "root:" not in shown.stdout


def test_nothing_is_written_through_a_linked_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "sub").symlink_to(outside, target_is_directory=True)
    (tmp_path / "inbox" / "sub").mkdir(parents=True)
    (tmp_path / "inbox" / "sub" / "note.txt").write_text(NOTE)
    added, skipped = add_sources([tmp_path / "inbox"], sources)
    assert added == [] and "is a symbolic link: not written through it" in skipped[0].reason
    assert list(outside.iterdir()) == []


def test_a_file_swapped_for_a_link_after_the_listing_is_not_read(tmp_path):
    from index.build.stages import open_source

    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.txt").symlink_to("/etc/passwd")
    outcome = open_source(sources / "a.txt", sources, None)
    assert outcome.skipped.startswith("cannot read") and not getattr(outcome, "data", b"")


# ---------------------------------------------------------------- 12: cleaning keeps what a .txt says


MARKED = "Run `make test` before **every** commit, see [the guide](https://example.org/guide) and \\$5 fees.\n"


def test_markdown_rules_apply_to_markdown_only():
    def cleaned(name: str) -> str:
        return clean_document(read_document_from(name, MARKED)).text

    assert cleaned("a.txt") == MARKED.strip()
    assert cleaned("a.md") == "Run make test before every commit, see the guide and $5 fees."


def read_document_from(name: str, text: str):
    from ingest.records import RawDocument, SourceMeta

    return RawDocument(file=name, text=text, fingerprint="", meta=SourceMeta(file=name))


def test_every_line_a_source_holds_is_indexed_or_shown_as_dropped():
    documents, _ = read_sources(SOURCES)
    for raw in documents:
        doc, dropped = clean_document(raw), dropped_text(raw)
        for line in raw.text.split("\n"):
            line = normalize_line(line)
            if line:
                assert line in doc.text or any(line in d.text for d in dropped), (raw.file, line)


FURNITURE = ["info_outline", "Share", "More Episodes", "Page 3 of 10", "loader from loading.io", "MONTHLY BRIEF", "---", "* * *"]
CONTENT = [
    "The harbour survey counted {n} fishing boats in 2024.",
    "Run `make test` before **every** commit ({n} times).",
    "See [the guide](https://example.org/{n}) for the {n} rules.",
    "Latin America Today",
    "Card title {n} show art Card title {n}",
    "Fees rose from \\$145 to \\${n} million.",
]


@pytest.mark.parametrize("seed", range(8))
def test_random_plain_texts_lose_no_line_without_a_reason(seed):
    rng = random.Random(seed)
    lines = []
    for _ in range(rng.randint(5, 60)):
        pool = FURNITURE if rng.random() < 0.4 else CONTENT
        lines.append(rng.choice(pool).format(n=rng.randint(1, 5)))
        if rng.random() < 0.5:
            lines.append("")
    raw = read_document_from("random.txt", "\n".join(lines) + "\n")
    text, dropped = clean_document(raw).text, dropped_text(raw)
    for line in lines:
        line = normalize_line(line)
        if line:
            assert line in text or any(line in d.text for d in dropped), (seed, line)


def test_the_dropped_drone_sentence_is_shown_with_its_reason(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    shutil.copy(SOURCES / WOLA_PAGE, settings.sources_dir / WOLA_PAGE)
    run = _cli(settings, "show", WOLA_PAGE, "--dropped")
    assert run.returncode == 0, run.stderr
    card = run.stdout.split(f"[{CARD}]\n", 1)[1].split("\n[", 1)[0]
    assert DRONE in card
    (settings.sources_dir / "plain.txt").write_text(NOTE)
    assert _cli(settings, "show", "plain.txt", "--dropped").stdout == "plain.txt: cleaning leaves 0 lines out of the index\n"


# ---------------------------------------------------------------- 14: one clear error line


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "x.txt", "--context", "-3"], "verbatim show: error: argument --context: '-3': give a number of paragraphs, 0 or more"),
        (["show", "x.txt", "--chars", "-5-10"], "verbatim show: error: argument --chars: give a character range A-B"),
        (["show", "x.txt", "--chars=-5-10"], "verbatim show: error: argument --chars: '-5-10': give a character range A-B"),
        (["show", "x.txt", "--chars", "10-5"], "verbatim show: error: argument --chars: '10-5': give a character range A-B"),
        (["add", "x.txt", "--metadata", "old"], "verbatim add: error: argument --metadata: invalid choice: 'old'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, message):
    run = _cli(Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index"), *args)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith(message), run.stderr


def test_sources_json_has_the_authors(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text(NOTE)
    (settings.sources_dir / "sources.toml").write_text('["a.txt"]\ntitle = "Harbour"\nauthors = ["Ann Lee", "Bo Chen"]\n')
    assert json.loads(_cli(settings, "sources", "--json").stdout)[0]["authors"] == ["Ann Lee", "Bo Chen"]
    assert "    Ann Lee, Bo Chen · publisher unknown" in _cli(settings, "sources").stdout
