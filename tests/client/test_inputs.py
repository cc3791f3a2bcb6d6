"""Collecting inputs, preflight limits, chunking (humelab.client.inputs)."""

from __future__ import annotations

import os

import pytest

import humelab
from humelab.client.inputs import (
    MAX_FILE_BYTES,
    Inputs,
    chunk_inputs,
    collect_inputs,
    preflight,
)
from tests.media import make_wav


@pytest.fixture
def tree(tmp_path):
    """A folder with media, a hidden file, a __MACOSX folder and a subfolder."""
    (tmp_path / "a.wav").write_bytes(b"RIFF-a")
    (tmp_path / "b.jpg").write_bytes(b"jpg-b")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.wav").write_bytes(b"junk")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.wav").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("hello")
    return tmp_path


def test_folder_walk_skips_hidden_and_macosx(tree):
    got = collect_inputs(tree)
    assert [f.name for f in got.files] == ["a.wav", "b.jpg", "sub/d.txt"]
    assert got.urls == [] and got.text == []


def test_walked_files_are_named_below_the_folder(tmp_path):
    # Given the same file name in two subfolders
    for sub in ("p1", "p2"):
        (tmp_path / "media" / sub).mkdir(parents=True)
        (tmp_path / "media" / sub / "clip.wav").write_bytes(sub.encode())
    # When the folder is walked, the names keep the subfolders
    got = collect_inputs(tmp_path / "media")
    assert [f.name for f in got.files] == ["p1/clip.wav", "p2/clip.wav"]
    # while a file given directly, or by a glob, keeps its base name
    direct = collect_inputs(
        [tmp_path / "media" / "p1" / "clip.wav", str(tmp_path / "media/p2/*.wav")]
    )
    assert [f.name for f in direct.files] == ["clip.wav", "clip.wav"]


def test_globs_under_hidden_folders_and_dotdot(tmp_path, monkeypatch):
    # Given media in a hidden folder and in a sibling folder
    (tmp_path / "media" / ".hid").mkdir(parents=True)
    (tmp_path / "media" / ".hid" / "a.wav").write_bytes(b"a")
    (tmp_path / "media" / ".hid" / ".junk.wav").write_bytes(b"j")
    (tmp_path / "p1").mkdir()
    (tmp_path / "p2").mkdir()
    (tmp_path / "p2" / "b.wav").write_bytes(b"b")
    monkeypatch.chdir(tmp_path / "p1")
    # Then globs that name them match (hidden parts count only below the prefix)
    assert [f.name for f in collect_inputs("../p2/*.wav").files] == ["b.wav"]
    got = collect_inputs(str(tmp_path / "media" / ".hid" / "*.wav"))
    assert [f.name for f in got.files] == ["a.wav"]
    assert [f.name for f in collect_inputs("../media/.hid/*.wav").files] == ["a.wav"]
    # but a wildcard does not dig into hidden folders below the prefix
    with pytest.raises(humelab.InputError, match=r"matched no files"):
        collect_inputs(str(tmp_path / "media" / "*" / "*.wav"))


def test_bytearray_pairs_work_like_bytes():
    got = collect_inputs(("x.txt", bytearray(b"hi")))
    assert [(f.name, f.size) for f in got.files] == [("x.txt", 2)]
    assert got.files[0].open().read() == b"hi"
    assert isinstance(got.files[0].data, bytes)


def test_mixed_inputs_paths_globs_urls_bytes_text(tree):
    got = collect_inputs(
        [
            tree / "a.wav",
            str(tree / "*.jpg"),
            "https://example.org/x.mp4",
            ("mem.wav", b"\x00\x01"),
        ],
        urls="http://127.0.0.1/y.wav",
        text=["hi there"],
    )
    assert [f.name for f in got.files] == ["a.wav", "b.jpg", "mem.wav"]
    assert got.files[2].size == 2 and got.files[2].path is None
    assert got.urls == ["https://example.org/x.mp4", "http://127.0.0.1/y.wav"]
    assert got.text == ["hi there"]
    assert got.describe() == "3 files, 2 URLs, 1 text"


def test_recursive_glob_and_duplicates_removed(tree):
    got = collect_inputs([str(tree / "**" / "*.*"), tree / "a.wav"])
    assert sorted(f.name for f in got.files) == ["a.wav", "b.jpg", "d.txt"]


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("/no/such/file.wav", r"No such file or folder: `/no/such/file.wav`"),
        (b"raw", r"Bytes need a file name"),
        (("x.wav", "not bytes"), r"`\(name, bytes\)` pair"),
        (42, r"Cannot use a int as an input"),
    ],
)
def test_bad_items_are_explained(item, match):
    with pytest.raises(humelab.InputError, match=match):
        collect_inputs([item])


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(humelab.InputError, match=r"pattern `.*\*\.flac` matched no"):
        collect_inputs(str(tmp_path / "*.flac"))


def test_urls_argument_rejects_paths():
    with pytest.raises(humelab.InputError, match=r"`urls` holds `'a.wav'`"):
        collect_inputs(urls=["a.wav"])


def test_preflight_limits_name_the_limit_and_submit_many():
    files = Inputs(text=["t"] * 101)
    with pytest.raises(
        humelab.InputError, match=r"101 texts .* limit of 100.*submit_many"
    ):
        preflight(files)
    with pytest.raises(humelab.InputError, match=r"101 URLs"):
        preflight(Inputs(urls=["http://x/a"] * 101))
    with pytest.raises(humelab.InputError, match=r"Nothing to submit"):
        preflight(Inputs())


def test_preflight_file_too_large_names_file(tmp_path):
    # A sparse file just over the limit: no disk space used.
    big = tmp_path / "huge.wav"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(
        humelab.InputError, match=r"`.*huge\.wav` is 1\.00 GB, over the"
    ):
        preflight(collect_inputs(big))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(humelab.InputError, match=r"empty\.wav` is empty"):
        preflight(collect_inputs(empty))


def test_chunking_keeps_order_and_limits():
    bundle = Inputs(
        urls=[f"http://x/{i}" for i in range(150)],
        files=[],
        text=[str(i) for i in range(250)],
    )
    chunks = chunk_inputs(bundle)
    assert [len(c.text) for c in chunks] == [100, 100, 50]
    assert [len(c.urls) for c in chunks] == [100, 50, 0]
    assert [t for c in chunks for t in c.text] == bundle.text
    for c in chunks:
        preflight(c)  # every piece fits in one job


def test_fingerprint_depends_on_content(tmp_path):
    p = tmp_path / "a.wav"
    p.write_bytes(b"one")
    first = collect_inputs(p).fingerprint()
    p.write_bytes(b"two")
    assert collect_inputs(p).fingerprint() != first


def test_example_files_cover_every_kind():
    files = humelab.example_files()
    assert all(p.is_file() for p in files)
    suffixes = {p.suffix for p in files}
    assert {".wav", ".mp4", ".jpg", ".png", ".txt", ".zip"} <= suffixes
    # transcripts sit beside the speech and are listed on request only
    transcripts = humelab.example_files("transcript")
    assert [p.stem for p in transcripts] == [
        p.stem for p in humelab.example_files("audio")
    ]
    total = sum(p.stat().st_size for p in files[0].parent.iterdir() if p.is_file())
    assert total < 2_000_000
    with pytest.raises(humelab.InputError, match=r"Unknown kind 'pictures'"):
        humelab.example_files("pictures")


def test_example_files_missing_folder_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("HUMELAB_DATASETS", os.fspath(tmp_path))
    with pytest.raises(humelab.InputError, match=r"example media were not found"):
        humelab.example_files()


def test_folder_walk_skips_files_no_model_reads(tmp_path, capfd):
    # Given a folder with media beside a README, an index and a script
    (tmp_path / "p1").mkdir()
    wav = make_wav(tmp_path / "p1" / "clip.wav", 0.5)
    for name in ("README.md", "index.csv", "make.py"):
        (tmp_path / name).write_text("not media")
    (tmp_path / "notes.txt").write_text("A text the language model reads.")
    # When it is collected
    bundle = collect_inputs(tmp_path)
    # Then only what a model reads is sent, and one line says what was skipped
    assert sorted(f.name for f in bundle.files) == ["notes.txt", "p1/clip.wav"]
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "skipped 3 files" in err
    assert "README.md" in err and "name a file directly" in err
    # and a file named directly is sent whatever it is
    assert [f.name for f in collect_inputs(tmp_path / "README.md").files] == [
        "README.md"
    ]
    assert wav.is_file()
