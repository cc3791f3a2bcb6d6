"""Media probing and decoding (humelab.service.media) and the test media generators."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from humelab.service.engines import EngineError
from humelab.service.media import (
    SAMPLE_RATE,
    frame_indices,
    probe_media,
    read_audio,
    read_image,
    read_text,
    sample_frames,
)
from tests.media import make_image, make_text_file, make_video, make_wav, speech_signal


def _write_m4a(path, seconds=1.5, rate=44100):
    import av

    with av.open(str(path), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "stereo"
        sig = speech_signal(seconds, sr=rate)
        pcm = (np.stack([sig, sig]) * 32767).astype(np.int16)
        for start in range(0, pcm.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + 1024]).reshape(1, -1),
                format="s16",
                layout="stereo",
            )
            frame.sample_rate, frame.pts = rate, start
            frame.time_base = Fraction(1, rate)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


def test_generators_are_deterministic(tmp_path):
    for make, suffix in [(make_wav, "wav"), (make_video, "mp4"), (make_image, "png")]:
        a, b = make(tmp_path / f"a.{suffix}"), make(tmp_path / f"b.{suffix}")
        assert a.read_bytes() == b.read_bytes(), suffix
    assert (
        make_wav(tmp_path / "c.wav", seed=1).read_bytes()
        != (tmp_path / "a.wav").read_bytes()
    )


def test_probe_kinds_by_content_not_extension(tmp_path):
    # Given files whose extensions lie
    video = make_video(tmp_path / "clip.dat", 2.0, fps=25, size=(160, 120))
    wav = make_wav(tmp_path / "voice.mp4", 1.5)
    image = make_image(tmp_path / "pic.bin")
    text = make_text_file(tmp_path / "notes.dat", "Hello there.")
    # Then the kind comes from the bytes
    info = probe_media(video)
    assert (info.kind, info.fps, info.frame_count, info.duration) == (
        "video",
        25.0,
        50,
        2.0,
    )
    assert (info.width, info.height, info.has_audio) == (160, 120, True)
    info = probe_media(wav)
    assert (info.kind, info.duration, info.has_audio) == ("audio", 1.5, True)
    info = probe_media(image)
    assert (info.kind, info.width, info.height) == ("image", 128, 96)
    assert probe_media(text).kind == "text"
    assert (
        probe_media(make_video(tmp_path / "mute.mp4", 1.0, audio=False)).has_audio
        is False
    )


def test_probe_compressed_audio(tmp_path):
    info = probe_media(_write_m4a(tmp_path / "voice.m4a"))
    assert info.kind == "audio" and info.duration == pytest.approx(1.5, abs=0.05)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("junk.bin", bytes(range(256)) * 20),
        ("noise.mp4", np.random.default_rng(0).bytes(4000)),
        ("empty.wav", b""),
        ("latin1.txt", "café".encode("latin-1") + b"\x00\x01"),
    ],
)
def test_undecodable(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(
        EngineError, match=rf"could not decode {name}( as \w+ ?\w*)?: \S"
    ):
        probe_media(path)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("f.jpg", "an image"), ("notes.mp3", "audio"), ("clip.MP4", "a video")],
)
def test_text_with_a_media_extension_is_not_text(tmp_path, name, kind):
    # Given text saved under a media name
    path = make_text_file(tmp_path / name, "Hello there.")
    # Then probing refuses it, naming what the extension promised
    with pytest.raises(
        EngineError, match=rf"could not decode {re.escape(name)} as {kind}: .*text"
    ):
        probe_media(path)


def test_decoder_messages_do_not_show_the_disk_path(tmp_path):
    # Given garbage stored on disk under an internal name
    path = tmp_path / "uploads" / "0" / "x.wav"
    path.parent.mkdir(parents=True)
    path.write_bytes(np.random.default_rng(1).bytes(3000))
    # Then every reader names the file as the user gave it, never the path
    for call in (
        lambda: probe_media(path, name="bad.wav"),
        lambda: read_audio(path, name="bad.wav"),
        lambda: list(sample_frames(path, fps_pred=1, name="bad.wav")),
        lambda: read_image(path, name="bad.wav"),
    ):
        with pytest.raises(EngineError, match=r"could not decode bad\.wav") as info:
            call()
        assert str(tmp_path) not in str(info.value), str(info.value)


def test_truncated_video_fails_to_decode(tmp_path):
    video = make_video(tmp_path / "clip.mp4", 1.0)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:300])
    with pytest.raises(EngineError, match=r"could not decode cut\.mp4"):
        probe_media(cut)


@pytest.mark.parametrize(
    ("count", "fps", "fps_pred", "expected"),
    [
        (50, 25.0, 3, [0, 8, 17, 25, 33, 42]),  # observed in Hume's R3 (25 fps)
        (61, 30.0, 3, [0, 10, 20, 30, 40, 50, 60]),  # R5/R8 (30 fps)
        (5, 25.0, 0, [0, 1, 2, 3, 4]),  # 0 = every frame
        (4, 25.0, 100, [0, 1, 2, 3]),  # faster than the video = every frame
        (0, 25.0, 3, []),
    ],
)
def test_frame_indices(count, fps, fps_pred, expected):
    assert frame_indices(count, fps, fps_pred) == expected


def test_sample_frames_follow_the_blob(tmp_path):
    video = make_video(tmp_path / "clip.mp4", 2.0, fps=25, size=(320, 240))
    frames = list(sample_frames(video, fps_pred=3))
    assert [f for f, _, _ in frames] == frame_indices(50, 25.0, 3)
    assert [t for _, t, _ in frames] == [f / 25 for f, _, _ in frames]
    first = frames[0][2]
    assert first.shape == (72, 96) and first.dtype == np.float32
    # The bright blob moves from left to right
    cols = [int(np.argmax(pix.max(axis=0))) for _, _, pix in frames]
    assert cols == sorted(cols) and cols[-1] - cols[0] > 30


def test_read_audio(tmp_path):
    wav = make_wav(tmp_path / "a.wav", 2.0, sr=22050)
    x = read_audio(wav)
    assert x.dtype == np.float32 and len(x) == 2 * SAMPLE_RATE
    reference = speech_signal(2.0, sr=22050)  # what make_wav wrote

    def envelope(sig, hop):  # RMS per 20 ms
        return np.sqrt(
            (sig[: len(sig) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)
        )

    assert np.corrcoef(envelope(x, 320), envelope(reference, 441))[0, 1] > 0.99
    m4a = read_audio(_write_m4a(tmp_path / "b.m4a", 1.5))
    assert abs(len(m4a) - 1.5 * SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    assert 0.01 < float(np.abs(m4a).max()) <= 1.5
    video = read_audio(make_video(tmp_path / "v.mp4", 1.0))
    assert abs(len(video) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE
    with pytest.raises(EngineError, match=r"could not decode mute\.mp4: no audio"):
        read_audio(make_video(tmp_path / "mute.mp4", 1.0, audio=False))


def test_read_image_and_text(tmp_path):
    pix = read_image(make_image(tmp_path / "big.jpg", size=(640, 480)))
    assert pix.shape == (72, 96) and 0 <= pix.min() and pix.max() <= 255
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffHéllo".encode())
    assert read_text(path) == "Héllo"


def test_read_audio_in_blocks_equals_whole_file(tmp_path):
    # 20 s at 44.1 kHz spans several soundfile blocks; the blockwise resampler must
    # give exactly what one interpolation over the whole file gives.
    import soundfile as sf

    path = make_wav(tmp_path / "long.wav", 20.0, sr=44100)
    x, _ = sf.read(path, dtype="float32")
    n = int(round(len(x) * SAMPLE_RATE / 44100))
    whole = np.interp(np.arange(n) * (44100 / SAMPLE_RATE), np.arange(len(x)), x)
    np.testing.assert_array_equal(read_audio(path), whole.astype(np.float32))
