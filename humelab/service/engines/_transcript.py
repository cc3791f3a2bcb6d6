"""Transcripts and text units for the simulated engine.

A transcript is a sibling ``.txt`` (plain text), ``.srt`` or ``.vtt`` (cues with
times) of a media file. Its words get times (cue spans, or speech segments found in
the audio) and are grouped into the units of each granularity: word, sentence,
utterance, conversational turn. Positions are character offsets into the transcript
with whitespace collapsed to single spaces (cue texts are joined with spaces). Named
entities are runs of capitalised tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Word",
    "Unit",
    "Cue",
    "parse_transcript",
    "text_words",
    "timed_words",
    "units",
    "entities",
]

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_TAG = re.compile(r"<[^>]*>")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>")
_SENTENCE_END = (".", "!", "?", "…")
#: Abbreviations whose period ends neither a sentence nor a name.
_ABBREVIATIONS = frozenset(
    "Dr. Mr. Mrs. Ms. Mx. Prof. St. Mt. Jr. Sr. Gen. Col. Capt. Lt. Sgt. vs. e.g. "
    "i.e. etc.".split()
)


def _ends_sentence(token: str) -> bool:
    return token not in _ABBREVIATIONS and token.rstrip("\"')]”’").endswith(
        _SENTENCE_END
    )


_STRIP = ".,!?;:\"'()[]{}«»“”‘’…"
#: Capitalised words that start sentences but are not names (never lead an entity).
_NOT_NAMES = frozenset(
    "A An And As At But Dear Do Does Fine For Good Great He Hello Her Here Hey Hi His "
    "How If In It Its Let My No Oh Ok Okay On Or Our Please She So Thank Thanks That "
    "The Their Then There These They This Those Today Well We What When Where Which "
    "Who Why Yes You Your".split()
)


@dataclass
class Cue:
    """A transcript cue: text with optional times and speaker label."""

    text: str
    begin: float | None = None
    end: float | None = None
    speaker: str | None = None


@dataclass
class Word:
    """One word: its text, character span, time span, confidence, utterance, speaker."""

    text: str
    begin: int
    end: int
    t0: float | None = None
    t1: float | None = None
    utterance: int = 0
    speaker: int = 0
    confidence: float | None = None


@dataclass
class Unit:
    """A run of words reported as one prediction."""

    words: list[Word]
    text: str
    begin: int
    end: int

    @property
    def t0(self):
        return self.words[0].t0

    @property
    def t1(self):
        return self.words[-1].t1

    @property
    def speaker(self):
        return self.words[0].speaker


def _seconds(m) -> float:
    h, mi, s, frac = m.groups()
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def parse_transcript(path: Path) -> list[Cue]:
    """Read a ``.txt``, ``.srt`` or ``.vtt`` transcript into cues.

    ``.txt`` gives one cue without times. Cue files are parsed leniently: blocks
    separated by blank lines; a line with ``-->`` gives the times; numeric ids,
    ``WEBVTT``/``NOTE``/``STYLE`` blocks and tags are dropped; ``<v Name>`` gives the
    speaker. A cue file without any timed cue falls back to plain text.

    Parameters
    ----------
    path : Path
        The transcript file (UTF-8; a BOM is ignored; undecodable bytes replaced).

    Returns
    -------
    list of Cue
    """
    raw = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    if Path(path).suffix.lower() not in (".srt", ".vtt"):
        return [Cue(" ".join(raw.split()))]
    cues = []
    for block in re.split(r"\n\s*\n", raw.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.strip() for ln in block.strip().split("\n") if ln.strip()]
        timing = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if timing is None:
            continue
        left, _, right = lines[timing].partition("-->")
        m0, m1 = _TIME.search(left), _TIME.search(right)
        if not (m0 and m1):
            continue
        body = " ".join(lines[timing + 1 :])
        voice = _VOICE.search(body)
        text = " ".join(_TAG.sub("", body).split())
        if text:
            cues.append(
                Cue(
                    text,
                    _seconds(m0),
                    _seconds(m1),
                    voice.group(1).strip() if voice else None,
                )
            )
    if not cues:
        return [Cue(" ".join(_TAG.sub("", raw).split()))]
    cues.sort(key=lambda c: c.begin)
    return cues


def text_words(text: str) -> list[Word]:
    """Words of a raw text item, positions relative to ``text`` as given."""
    return [Word(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _spread(words, t0, t1):
    # Times proportional to character length (one character of gap between words)
    # over [t0, t1]: the first word starts at t0, the last ends at t1.
    if not words:
        return
    total = sum(len(w.text) + 1 for w in words) - 1
    pos = 0
    for w in words:
        w.t0 = t0 + (t1 - t0) * pos / total
        w.t1 = t0 + (t1 - t0) * (pos + len(w.text)) / total
        pos += len(w.text) + 1


def timed_words(cues: list[Cue], segments: list[tuple[float, float]], duration: float):
    """Lay the transcript out in time.

    Parameters
    ----------
    cues : list of Cue
        From :func:`parse_transcript`.
    segments : list of (begin, end)
        Speech segments found in the audio (used for untimed text); empty means the
        whole of ``[0, duration]``.
    duration : float
        Media duration in seconds.

    Returns
    -------
    transcript : str
        The cue texts joined with single spaces (positions refer to it).
    words : list of Word
        With times, utterance index (the cue, or the speech segment in
        ``segments``) and speaker label index (``speakers`` order).
    speakers : list of str
        Speaker labels from ``<v Name>`` tags, in order of appearance (may be empty).
    """
    words: list[Word] = []
    parts: list[str] = []
    speakers: list[str] = []
    offset = 0
    per_cue: list[list[Word]] = []
    for cue in cues:
        ws = [
            Word(w.text, w.begin + offset, w.end + offset) for w in text_words(cue.text)
        ]
        parts.append(cue.text)
        offset += len(cue.text) + 1
        per_cue.append(ws)
        words.extend(ws)
    transcript = " ".join(parts)
    timed = all(c.begin is not None for c in cues)
    if timed:
        for i, (cue, ws) in enumerate(zip(cues, per_cue, strict=True)):
            spk = 0
            if cue.speaker is not None:
                if cue.speaker not in speakers:
                    speakers.append(cue.speaker)
                spk = speakers.index(cue.speaker)
            _spread(ws, cue.begin, max(cue.end, cue.begin))
            for w in ws:
                w.utterance, w.speaker = i, spk
        return transcript, words, speakers
    segs = [s for s in segments if s[1] > s[0]] or [(0.0, max(duration, 0.0))]
    total = sum(e - b for b, e in segs)
    chars = sum(len(w.text) + 1 for w in words) or 1
    # Assign each word to the segment holding its midpoint on the speech-time axis.
    bounds, acc = [], 0.0
    for b, e in segs:
        acc += e - b
        bounds.append(acc)
    buckets: list[list[Word]] = [[] for _ in segs]
    pos = 0
    for w in words:
        mid = (pos + (len(w.text) + 1) / 2) / chars * total
        pos += len(w.text) + 1
        j = next((k for k, bound in enumerate(bounds) if mid <= bound), len(segs) - 1)
        buckets[j].append(w)
    for n, ((b, e), ws) in enumerate(zip(segs, buckets, strict=True)):
        _spread(ws, b, e)
        for w in ws:
            w.utterance = n  # index of the speech segment
    return transcript, words, speakers


def _unit(words, source):
    return Unit(
        words, source[words[0].begin : words[-1].end], words[0].begin, words[-1].end
    )


def units(words: list[Word], source: str, granularity: str, *, text_item=False):
    """Group words into the units of ``granularity``.

    Parameters
    ----------
    words : list of Word
        In order.
    source : str
        The transcript or text item the positions refer to.
    granularity : str
        ``word``, ``sentence``, ``utterance`` or ``conversational_turn``.
    text_item : bool
        Raw text: ``utterance`` is the same as ``sentence`` and
        ``conversational_turn`` is the whole passage.

    Returns
    -------
    list of Unit
    """
    if not words:
        return []
    if granularity == "word":
        return [_unit([w], source) for w in words]
    if text_item and granularity == "utterance":
        granularity = "sentence"
    if text_item and granularity == "conversational_turn":
        return [_unit(words, source)]
    out, run = [], [words[0]]
    for prev, w in zip(words, words[1:], strict=False):
        if granularity == "sentence":
            brk = _ends_sentence(prev.text) or w.speaker != prev.speaker
        elif granularity == "utterance":
            brk = w.utterance != prev.utterance
        else:  # conversational_turn
            brk = w.speaker != prev.speaker
        if brk:
            out.append(_unit(run, source))
            run = []
        run.append(w)
    out.append(_unit(run, source))
    return out


def entities(words: list[Word], source: str) -> list[Unit]:
    """Named-entity mentions: runs of capitalised tokens.

    A run ends at a token that ends a clause (``.,;:!?``). A single capitalised token
    that starts a sentence, the pronoun "I" (and "I'm", "I'll", ...), and common
    sentence starters ("Hi", "The", "How", ...) leading a run are not entities.
    The unit text and span exclude surrounding punctuation.

    Returns
    -------
    list of Unit
        One per mention, in order.
    """
    out = []
    run: list[tuple[Word, int, int]] = []
    sentence_start = True

    def flush(run):
        if not run:
            return
        if len(run) == 1 and run[0][0] is starts.get(id(run[0][0])):
            return
        b, e = run[0][1], run[-1][2]
        out.append(Unit([r[0] for r in run], source[b:e], b, e))

    starts: dict[int, Word] = {}
    for w in words:
        core = w.text.strip(_STRIP)
        lead = len(w.text) - len(w.text.lstrip(_STRIP))
        if sentence_start:
            starts[id(w)] = w
        is_cap = (
            bool(core) and core[0].isupper() and not re.fullmatch(r"I('\w+)?", core)
        )
        if is_cap and not run and core in _NOT_NAMES:
            is_cap = False
        if is_cap:
            b = w.begin + lead
            run.append((w, b, b + len(core)))
        else:
            flush(run)
            run = []
        if _ends_sentence(w.text) or w.text.rstrip("\"')]”’").endswith((",", ";", ":")):
            flush(run)
            run = []
        sentence_start = _ends_sentence(w.text)
    flush(run)
    return out
