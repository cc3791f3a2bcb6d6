"""A hostile-input corpus against a live service on loopback.

Archives with traversal, links, devices, bombs, bad names and corrupt streams; URLs
of every forbidden kind; malformed JSON and multipart; over-limit requests; odd
methods, paths and headers; and randomly damaged archives. Each gets a 4xx, or a
job that COMPLETES with error entries for what was refused; the service stays up;
nothing is written outside its data folder.
"""

from __future__ import annotations

import io
import random
import stat
import tarfile
import warnings
import zipfile

import pytest

import humelab
from tests.media import make_image, make_wav
from tests.torture._harness import KEY, Raw, record, scaled

LIMITS = dict(
    max_urls=5,
    max_files=5,
    max_texts=5,
    max_file_bytes=300_000,
    max_json_bytes=200_000,
    max_archive_members=20,
    max_archive_bytes=1_000_000,
    max_expanded_bytes=1_500_000,
    fetch_timeout=2,
    fetch_total_timeout=4,
)


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    root = tmp_path_factory.mktemp("box")
    with humelab.serve(
        data_dir=root / "data", api_key=KEY, quiet=True, workers=2, **LIMITS
    ) as server:
        yield root, server


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-media")
    return {
        "wav": make_wav(d / "a.wav", 0.3).read_bytes(),
        "png": make_image(d / "f.png", size=(40, 30)).read_bytes(),
    }


def _zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression) as zf:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names on purpose
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _tar(entries, mode="w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _ti(name, kind=tarfile.REGTYPE, size=0, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def archive_corpus(m) -> dict[str, tuple[str, bytes]]:
    wav = m["wav"]
    return {
        "zip traversal": (
            "t.zip",
            _zip([("../../evil.txt", b"x", None), ("ok.wav", wav, None)]),
        ),
        "zip absolute": ("a.zip", _zip([("/tmp/humelab-evil-abs.txt", b"x", None)])),
        "zip windows path": (
            "w.zip",
            _zip([("C:\\evil.txt", b"x", None), ("..\\..\\evil2.txt", b"x", None)]),
        ),
        "zip symlink": (
            "l.zip",
            _zip([("link.wav", b"/etc/passwd", stat.S_IFLNK | 0o777)]),
        ),
        "zip control chars": ("c.zip", _zip([("a\x01b.txt", b"hello", None)])),
        "zip long name": (
            "n.zip",
            _zip([("d/" * 200 + "x" * 300 + ".txt", b"hi", None)]),
        ),
        "zip duplicate names": (
            "d.zip",
            _zip([("x.txt", b"a", None), ("x.txt", b"b", None)]),
        ),
        "zip nested zip": (
            "z.zip",
            _zip([("inner.zip", _zip([("i.wav", wav, None)]), None)]),
        ),
        "zip stored bomb": (
            "b.zip",
            _zip([(f"z{i}.wav", b"\0" * 400_000, None) for i in range(4)]),
        ),
        "zip too many members": (
            "m.zip",
            _zip([(f"{i}.txt", b"x", None) for i in range(30)]),
        ),
        "tar traversal": ("t.tar.gz", _tar([(_ti("../evil.txt", size=1), b"x")])),
        "tar links and devices": (
            "l.tar.gz",
            _tar(
                [
                    (_ti("sym.wav", tarfile.SYMTYPE, link="/etc/passwd"), None),
                    (_ti("hard.wav", tarfile.LNKTYPE, link="/etc/passwd"), None),
                    (_ti("dev", tarfile.CHRTYPE), None),
                    (_ti("fifo", tarfile.FIFOTYPE), None),
                    (_ti("ok.wav", size=len(wav)), wav),
                ]
            ),
        ),
        "tar.gz bomb": (
            "b.tar.gz",
            _tar([(_ti(f"z{i}.wav", size=600_000), b"\0" * 600_000) for i in range(3)]),
        ),
        "tar.bz2 bomb": (
            "b.tar.bz2",
            _tar([(_ti("z.wav", size=1_200_000), b"\0" * 1_200_000)], "w:bz2"),
        ),
        "tar.xz latin-1 name": (
            "x.tar.xz",
            _tar([(_ti("caf\udce9.txt", size=5), b"hello")], "w:xz"),
        ),
        "truncated zip": ("tr.zip", _zip([("ok.wav", wav, None)])[:-30]),
        "truncated tar.gz": (
            "tr.tar.gz",
            _tar([(_ti("ok.wav", size=len(wav)), wav)])[:200],
        ),
        "garbage named zip": ("g.zip", bytes(range(256)) * 10),
        "garbage named tar.xz": ("g.tar.xz", b"\xfd7zXZ\0" + bytes(500)),
        "empty zip file": ("e.zip", b""),
    }


def _outcome(api, r) -> str:
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert 400 <= r.status_code < 500
        body = r.json()
        assert body["message"] and body["status"] == r.status_code
        return "4xx"
    job = api.wait_all([r.json()["job_id"]], timeout=60)
    (job,) = job.values()
    assert job["state"]["status"] == "COMPLETED", job["state"]
    return "job"


def _no_escape(root, before):
    after = {p for p in root.rglob("*") if "data" not in p.relative_to(root).parts}
    assert after == before, sorted(map(str, after - before))
    assert not list(root.parent.rglob("evil*"))
    from pathlib import Path

    assert not Path("/tmp/humelab-evil-abs.txt").exists()


def test_hostile_archives(box, media):
    root, server = box
    api = Raw(server.url)
    before = {p for p in root.rglob("*") if "data" not in p.relative_to(root).parts}
    tried, outcomes = 0, {}
    try:
        for label, (name, data) in archive_corpus(media).items():
            r = api.post(files=[("file", (name, data))])
            outcomes[label] = _outcome(api, r)
            tried += 1
        # Damage valid archives at random places, many times.
        rng = random.Random(11)
        valid = [
            ("v.zip", _zip([("a.wav", media["wav"], None),
                            ("b.png", media["png"], None)])),
            ("v.tar.gz", _tar([(_ti("a.wav", size=len(media["wav"])), media["wav"])])),
            ("v.tar.bz2", _tar([(_ti("a.wav", size=len(media["wav"])), media["wav"])],
                               "w:bz2")),
            ("v.tar.xz", _tar([(_ti("a.wav", size=len(media["wav"])), media["wav"])],
                              "w:xz")),
        ]  # fmt: skip
        for _ in range(scaled(24)):
            name, data = rng.choice(valid)
            data = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i : i + rng.randint(1, 16)] = rng.randbytes(rng.randint(1, 16))
            r = api.post(files=[("file", (name, bytes(data)))])
            _outcome(api, r)
            tried += 1
        assert api.get("/").status_code == 200
        _no_escape(root, before)
    finally:
        record("hostile-archives", hostile_inputs=tried)
        api.close()
    # The corpus is refused where it should be, not measured by accident.
    assert outcomes["zip too many members"] == "4xx"
    assert outcomes["zip stored bomb"] == "4xx"


FORBIDDEN_URLS = [
    "http://127.0.0.1/", "http://localhost/", "http://LOCALHOST./", "http://a.localhost/",
    "http://2130706433/", "http://0x7f000001/", "http://017700000001/", "http://127.1/",
    "http://0/", "http://0.0.0.0/", "http://user@127.0.0.1/", "http://u:p@10.0.0.1/",
    "http://[::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://[2002:7f00:1::]/", "http://[fe80::1]/",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://10.1.2.3/",
    "http://224.0.0.1/", "http://255.255.255.255/", "http://240.0.0.1/",
    "http://[64:ff9b::7f00:1]/", "http://[fc00::1]/",
    "file:///etc/passwd", "ftp://example.org/a", "gopher://127.0.0.1:25/",
    "javascript:alert(1)", "http://[::1", "http://", "//127.0.0.1/a",
]  # fmt: skip


def test_forbidden_urls_and_callbacks(box):
    root, server = box
    api = Raw(server.url)
    tried = 0
    try:
        for url in FORBIDDEN_URLS:
            for body in ({"urls": [url]}, {"text": ["hi"], "callback_url": url}):
                r = api.post(json=body)
                assert r.status_code == 400, (url, r.status_code, r.text)
                tried += 1
        assert api.get("/").status_code == 200
    finally:
        record("hostile-urls", hostile_inputs=tried)
        api.close()


def _raw_cases():
    deep = b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    mp = "multipart/form-data; boundary=BB"
    part = b'--BB\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\n'
    named = b'--BB\r\nContent-Disposition: form-data; name="%s"\r\n\r\n'
    end = b"\r\n--BB--\r\n"
    return [
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b"null"),
        ("application/json", b""),
        ("application/json", deep),
        ("application/json", b'{"text": ["\\ud800"]}'),
        ("application/json", b'{"\\udc00": 1}'),
        ("application/json", b'{"text": ["a"], "models": {"face": {"fps_pred": 1e999}}}'),  # noqa: E501
        ("application/json", b'{"text": ["a"], "models": {"face": {"fps_pred": NaN}}}'),  # noqa: E501
        ("application/json", b'{"text": ["a"], "text": 5}'),
        ("application/json", '{"text": ["a"]}'.encode("utf-16")),
        ("application/json", b'{"urls": "http://x"}'),
        ("application/json", b'{"text": [1, 2]}'),
        ("application/json", b'{"models": {"nope": {}}, "text": ["a"]}'),
        ("application/json", b'{"text": ["a"], "notify": "yes"}'),
        ("application/json", b'{"text": ["x"], "x": ' + b"1" * 300_000 + b"}"),
        ("text/plain", b"hello"),
        ("multipart/form-data", b"--BB\r\n"),
        (mp, b"garbage without parts"),
        (mp, part % b"a.txt" + b"hello"),
        (mp, named % b"evil" + b"x" + end),
        (mp, named % b"json" + b"{bad" + end),
        (mp, named % b"json" + b"{}\r\n" + named % b"json" + b"{}" + end),
        (mp, part % b"../../evil.txt" + b"hello\r\n--BB--\r\n"),
        (mp, part % b"/etc/evil.txt" + b"hello\r\n--BB--\r\n"),
        (mp, part % b"a\x00b.txt" + b"hello\r\n--BB--\r\n"),
        (mp, part % (b"x" * 5000 + b".txt") + b"hello\r\n--BB--\r\n"),
        (mp, b"--BB\r\nContent-Disposition: form-data; name=\"file\"\r\n" + b"X-Pad: "
             + b"a" * 100_000 + b"\r\n\r\nhi\r\n--BB--\r\n"),
        (mp, b"".join(part % f"{i}.txt".encode() + b"hi\r\n" for i in range(6))
             + b"--BB--\r\n"),
        (mp, part % b"big.txt" + b"a" * 400_000 + b"\r\n--BB--\r\n"),
    ]  # fmt: skip


def test_malformed_and_over_limit_requests(box):
    root, server = box
    api = Raw(server.url)
    before = {p for p in root.rglob("*") if "data" not in p.relative_to(root).parts}
    tried = 0
    try:
        for ctype, body in _raw_cases():
            r = api.post(data=body, headers={"Content-Type": ctype})
            _outcome(api, r)
            tried += 1
        over = [
            {"urls": [f"https://example.org/{i}.wav" for i in range(6)]},
            {"text": ["a"] * 6},
            {"text": ["x" * 300_001]},
        ]
        for body in over:
            r = api.post(json=body)
            assert r.status_code == 400 and r.json()["error"] == "LimitExceeded"
            tried += 1
        odd = [
            ("DELETE", "/v0/batch/jobs"),
            ("PUT", "/v0/batch/jobs/x"),
            ("GET", "/v0/batch/jobs/..%2f..%2fetc%2fpasswd"),
            ("GET", "/v0/batch/jobs/%00"),
            ("GET", "/v0/batch/jobs/" + "a" * 5000),
            ("GET", "/v0/batch/jobs?limit=-1"),
            ("GET", "/v0/batch/jobs?limit=1e3"),
            ("GET", "/v0/batch/jobs?limit=" + "9" * 5000),
            ("GET", "/v0/batch/jobs?status=NOPE"),
            ("GET", "/v0/batch/jobs?when=created_after&timestamp_ms=-5"),
            ("GET", "/v0/batch/jobs/x/predictions"),
            ("GET", "/v0/batch/jobs/x/artifacts"),
        ]
        for method, path in odd:
            r = api.http.request(method, server.url + path, timeout=10)
            assert 400 <= r.status_code < 500, (method, path, r.status_code)
            tried += 1
        for headers in ({"X-Hume-Api-Key": ""}, {"X-Hume-Api-Key": "k" * 8000}):
            r = api.http.get(server.url + "/v0/batch/jobs", headers=headers, timeout=10)
            assert 400 <= r.status_code < 500
            tried += 1
        assert api.get("/").status_code == 200
        _no_escape(root, before)
    finally:
        record("hostile-requests", hostile_inputs=tried)
        api.close()
