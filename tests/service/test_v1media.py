"""Media preparation for Hume's v1 endpoints (humelab.service._v1media)."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from humelab.service._v1media import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    PART_OVERHEAD,
    REQUEST_SLACK,
    SAMPLE_RATE,
    Frame,
    audio_chunks,
    batch_frames,
    chunk_seconds,
    image_frame,
    prefetch,
    video_frames,
)
from humelab.service.engines import EngineError
from tests.media import make_image, make_text_file, make_video, make_wav, speech_signal


def _wav_samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def _silence_layout_wav(path, sr=16000):
    """Tone 0-5 s, silence 5.0-5.6 s, tone 5.6-9.8 s, silence 9.8-10.4, tone to 12."""
    t = np.arange(12 * sr) / sr
    loud = 0.3 * np.sin(2 * np.pi * 180 * t).astype(np.float32)
    out = np.where((t < 5.0) | ((t >= 5.6) & (t < 9.8)) | (t >= 10.4), loud, 0.0)
    sf.write(path, out.astype(np.float32), sr, subtype="PCM_16")
    return path


def test_short_wav_is_one_chunk_with_the_same_samples(tmp_path):
    # Given a 16 kHz mono wav of 2 s
    path = make_wav(tmp_path / "a.wav", 2.0)
    # When it is prepared
    chunks = list(audio_chunks(path))
    # Then one chunk holds exactly the original samples
    assert len(chunks) == 1
    c = chunks[0]
    assert (c.index, c.offset) == (0, 0.0)
    assert c.duration == pytest.approx(2.0)
    expected, _ = sf.read(path, dtype="int16")
    np.testing.assert_array_equal(_wav_samples(c.wav), expected)
    assert c.wav[:4] == b"RIFF" and c.wav[8:12] == b"WAVE"
    assert len(c.wav) == 44 + 2 * 32000


def test_any_audio_becomes_16k_mono_s16(tmp_path):
    # Given a 44.1 kHz stereo FLAC of 1.5 s
    sig = speech_signal(1.5, sr=44100)
    path = tmp_path / "s.flac"
    sf.write(path, np.stack([sig, sig], axis=1), 44100, format="FLAC")
    # When prepared
    (c,) = list(audio_chunks(path))
    # Then the WAV is 16 kHz mono s16 of the same length
    samples = _wav_samples(c.wav)
    assert abs(len(samples) - 24000) <= 64
    assert c.duration == pytest.approx(len(samples) / 16000)


def test_long_audio_is_split_at_silence_and_times_tile_the_file(tmp_path):
    # Given 12 s of tone with silences at 5.0-5.6 s and 9.8-10.4 s, and requests
    # that hold at most 6 s of audio (searching the last 2 s for a cut)
    path = _silence_layout_wav(tmp_path / "long.wav")
    max_bytes = REQUEST_SLACK + 44 + 2 * 6 * SAMPLE_RATE
    # When prepared
    chunks = list(audio_chunks(path, max_bytes=max_bytes, search=2.0))
    # Then each chunk fits a request, cuts fall in the silences, and the offsets
    # re-base every chunk onto the whole file without gap or overlap
    assert all(len(c.wav) <= max_bytes - REQUEST_SLACK for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len(chunks) == 3
    assert 5.0 < chunks[1].offset < 5.6
    assert 9.8 < chunks[2].offset < 10.4
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.offset == pytest.approx(a.offset + a.duration, abs=1e-9)
    assert chunks[-1].offset + chunks[-1].duration == pytest.approx(12.0)
    whole, _ = sf.read(path, dtype="int16")
    joined = np.concatenate([_wav_samples(c.wav) for c in chunks])
    np.testing.assert_array_equal(joined, whole)


def test_without_silence_the_quietest_moment_is_used(tmp_path):
    # Given 7 s of steady tone whose level dips (still audible) at 3.5 s
    t = np.arange(7 * 16000) / 16000
    level = np.where(np.abs(t - 3.5) < 0.05, 0.05, 0.3)
    sig = (level * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, sig, 16000, subtype="PCM_16")
    # When split into requests of at most 4 s, searching the last 1 s
    max_bytes = REQUEST_SLACK + 44 + 2 * 4 * 16000
    chunks = list(audio_chunks(path, max_bytes=max_bytes, search=1.0))
    # Then the cut is in the dip
    assert len(chunks) == 2
    assert 3.45 <= chunks[1].offset <= 3.55


def test_default_chunks_are_about_13_minutes():
    # 25,000,000 bytes minus framing, 2 bytes a sample at 16 kHz
    assert chunk_seconds() == pytest.approx((25_000_000 - 4096 - 44) // 2 / 16000)
    assert 780 < chunk_seconds() < 782


def test_video_soundtrack_is_extracted(tmp_path):
    video = make_video(tmp_path / "v.mp4", 2.0, audio=True)
    (c,) = list(audio_chunks(video))
    assert c.duration == pytest.approx(2.0, abs=0.1)
    assert len(_wav_samples(c.wav)) > 0


def test_files_without_audio_are_engine_errors(tmp_path):
    silent_video = make_video(tmp_path / "mute.mp4", 1.0, audio=False)
    with pytest.raises(EngineError, match=r"could not decode mute\.mp4: .*no audio"):
        list(audio_chunks(silent_video))
    text = make_text_file(tmp_path / "t.txt", "hello")
    with pytest.raises(EngineError, match=r"could not decode my notes\.txt"):
        list(audio_chunks(text, name="my notes.txt"))


def test_video_frames_sampled_at_fps_pred(tmp_path):
    # Given a 2 s, 25 fps video
    video = make_video(tmp_path / "v.mp4", 2.0, fps=25, size=(160, 120))
    # When sampled at 3 fps
    frames = list(video_frames(video, fps_pred=3))
    # Then frames floor(k * 25 / 3 + 0.5) come out, time = frame / 25, as JPEGs
    assert [f.frame for f in frames] == [0, 8, 17, 25, 33, 42]
    idx = (0, 8, 17, 25, 33, 42)
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in idx])
    for f in frames:
        assert f.jpeg[:2] == b"\xff\xd8"
        assert f.scale == 1.0
        with Image.open(io.BytesIO(f.jpeg)) as im:
            assert im.format == "JPEG" and im.size == (160, 120)
    # fps_pred 0 means every frame
    assert len(list(video_frames(video, fps_pred=0))) == 50


def test_video_frames_is_lazy(tmp_path):
    video = make_video(tmp_path / "v.mp4", 2.0, fps=25)
    gen = video_frames(video, fps_pred=25)
    first = next(gen)
    assert first.frame == 0
    gen.close()  # stops decoding; nothing else was read


def test_large_frames_are_scaled_below_the_limits(tmp_path):
    # Given a frame limit of 10,000 pixels and a 160x120 (19,200 pixel) video
    video = make_video(tmp_path / "v.mp4", 0.5, fps=10, size=(160, 120))
    frames = list(video_frames(video, fps_pred=3, max_pixels=10_000))
    for f in frames:
        with Image.open(io.BytesIO(f.jpeg)) as im:
            w, h = im.size
        assert w * h <= 10_000
        assert f.scale == pytest.approx(w / 160)
        assert w / h == pytest.approx(160 / 120, rel=0.03)


def test_big_image_is_scaled_to_the_pixel_and_byte_limits(tmp_path):
    # Given a 4000x2400 noisy PNG (9.6 M pixels, over the 8,294,400 limit)
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (2400, 4000, 3), dtype=np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(px).save(path)
    # When prepared with the real limits
    f = image_frame(path)
    # Then the JPEG is within both limits and its scale maps boxes back
    assert len(f.jpeg) <= MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(f.jpeg)) as im:
        w, h = im.size
    assert w * h <= MAX_PIXELS
    assert f.scale == pytest.approx(w / 4000)
    assert f.scale < (MAX_PIXELS / 9_600_000) ** 0.5 + 1e-6


def test_exif_orientation_is_applied(tmp_path):
    # Given a 128x96 JPEG whose EXIF says "rotate 90 degrees clockwise" (6)
    src = make_image(tmp_path / "a.png", (128, 96))
    im = Image.open(src).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    im.save(path, format="JPEG", exif=exif.tobytes())
    # When prepared
    f = image_frame(path)
    # Then the JPEG sent is upright: 96 wide, 128 tall
    with Image.open(io.BytesIO(f.jpeg)) as out:
        assert out.size == (96, 128)
        assert out.getexif().get(0x0112, 1) == 1


def test_upright_jpeg_is_sent_unchanged_and_png_is_converted(tmp_path):
    jpg = make_image(tmp_path / "a.jpg")
    assert image_frame(jpg).jpeg == jpg.read_bytes()
    png = make_image(tmp_path / "a.png")
    f = image_frame(png)
    assert f.jpeg[:2] == b"\xff\xd8" and (f.frame, f.time, f.scale) == (0, 0.0, 1.0)
    with pytest.raises(EngineError, match=r"could not decode notes\.jpg"):
        image_frame(
            make_text_file(tmp_path / "n.jpg", "not an image"), name="notes.jpg"
        )


def test_batches_respect_bytes_and_count():
    # Given frames of 1000 bytes, requests of at most 3,500 bytes of images
    frames = [Frame(i, i / 3, b"x" * 1000) for i in range(10)]
    max_bytes = REQUEST_SLACK + 3 * (1000 + PART_OVERHEAD) + 10
    # Then 3 fit per request (a 4th would pass the limit)
    sizes = [len(b) for b in batch_frames(frames, max_bytes=max_bytes)]
    assert sizes == [3, 3, 3, 1]
    # and a frame cap of 4 wins when bytes allow more
    sizes = [len(b) for b in batch_frames(frames, max_frames=4)]
    assert sizes == [4, 4, 2]
    batches = list(batch_frames(frames, max_frames=4))
    assert [f.frame for b in batches for f in b] == list(range(10))
    assert list(batch_frames([])) == []


def test_prefetch_runs_ahead_in_order_and_hands_over_errors():
    import threading

    seen = []
    closed = threading.Event()

    def make():
        try:
            for i in range(5):
                seen.append(threading.current_thread().name)
                yield i
        finally:
            closed.set()

    times = []
    assert list(prefetch(make, depth=2, on_item=times.append)) == [0, 1, 2, 3, 4]
    assert set(seen) == {"humelab-convert"} and len(times) == 6  # 5 items + the end
    assert closed.wait(2)

    def broken():
        yield 1
        raise EngineError("could not decode x.wav: broken")

    gen = prefetch(broken)
    assert next(gen) == 1
    with pytest.raises(EngineError, match="broken"):
        next(gen)

    # closing early stops the producer and closes its generator
    closed.clear()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    gen = prefetch(endless, depth=1)
    assert next(gen) == 0
    gen.close()
    assert closed.wait(2)
