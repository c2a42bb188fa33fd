#!/usr/bin/env python3
"""Why live keyword decoding costs more CPU than offline: the same audio, one analyzer, one process.

Decodes one utterance (tests/data/asr k01a + k02a and 0.5 s of silence) with the configured
keyword-mode analyzer (``asr.transcript`` off) in several ways and prints CPU seconds per
audio second (thread time, median of ``--repeat`` rounds, the ways interleaved per round):

* ``offline``: ``Analyzer.analyze`` of the whole utterance in one call (what bench/asr_streams.py
  compares the live figure with);
* ``pieces``: a live ``AnalysisSession`` fed 200 ms pieces back to back (no idle time);
* ``pieces + idle``: the same with the thread sleeping 200 ms between pieces, as a live call
  does while the next 200 ms of speech arrives;
* ``20 ms pieces + idle``: one RTP packet's worth at a time, sleeping 20 ms between;
* ``K interleaved``: K live sessions fed in turn, 200 ms each, no idle time (a busy speech
  worker serving K callers); CPU per stream.

    python bench/asr_pieces.py                 # prints, writes docs/performance.md
    python bench/asr_pieces.py --repeat 5 --no-write

Writes between ``<!-- asr_pieces:begin -->`` and ``<!-- asr_pieces:end -->`` in
docs/performance.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
import wave
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import screenpop as sp  # noqa: E402  (machine, load average, tables, the doc writer)
from asr_models.analysis import Analyzer  # noqa: E402
from cti.config import load  # noqa: E402

BEGIN = "<!-- asr_pieces:begin -->"
END = "<!-- asr_pieces:end -->"
CLIPS = ("k01a", "k02a")
RATE = 8000


def utterance() -> bytes:
    pcm = b""
    for name in CLIPS:
        with wave.open(str(REPO / "tests" / "data" / "asr" / f"{name}.wav")) as w:
            if w.getframerate() != RATE or w.getsampwidth() != 2:
                raise SystemExit(f"{name}.wav is not 16-bit {RATE} Hz")
            pcm += w.readframes(w.getnframes())
    return pcm + b"\0" * RATE   # 0.5 s of silence


def offline(analyzer: Analyzer, pcm: bytes) -> float:
    c = time.thread_time()
    analyzer.analyze(pcm)
    return time.thread_time() - c


def pieces(analyzer: Analyzer, pcm: bytes, ms: int, idle: bool, streams: int = 1) -> float:
    sessions = [analyzer.session() for _ in range(streams)]
    step = 2 * RATE * ms // 1000
    c = time.thread_time()
    for i in range(0, len(pcm), step):
        for s in sessions:
            s.feed(pcm[i:i + step])
        if idle:
            time.sleep(ms / 1000)
    for s in sessions:
        s.finish()
    return (time.thread_time() - c) / streams


def ways(interleave: list[int]) -> dict[str, Callable[[Analyzer, bytes], float]]:
    out: dict[str, Callable[[Analyzer, bytes], float]] = {
        "offline (one call)": offline,
        "200 ms pieces, no idle": lambda a, p: pieces(a, p, 200, False),
        "200 ms pieces + 200 ms idle": lambda a, p: pieces(a, p, 200, True),
        "20 ms pieces + 20 ms idle": lambda a, p: pieces(a, p, 20, True),
    }
    for k in interleave:
        out[f"{k} streams interleaved, 200 ms pieces, no idle (per stream)"] = \
            lambda a, p, k=k: pieces(a, p, 200, False, streams=k)
    return out


def render(rows: list[list[str]], info: dict[str, str], command: str, started: dt.datetime,
           load_before: str, load_after: str, audio_s: float, analyzer: Analyzer) -> str:
    return "\n".join([
        BEGIN,
        "## Live against offline keyword decoding, in one process (`bench/asr_pieces.py`)",
        "",
        "Written by `bench/asr_pieces.py`; do not edit by hand between the markers.",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['memory']} RAM; "
        f"{info['os']}; Python {info['python']}",
        f"- **Load average** at the start: {load_before}, at the end: {load_after}",
        f"- **Command:** `{command}`",
        f"- **Audio:** {' + '.join(CLIPS)} from `tests/data/asr` and 0.5 s of silence ({audio_s:.1f} s); "
        f"analyzer: model {analyzer.model_name}, keyword mode (`transcript` off), the configured pass 1",
        "",
        "CPU seconds (thread time) per second of audio, the ways interleaved in each round; "
        "ratio = against offline.",
        "",
        sp.md_table(["way", "CPU s / audio s (median)", "min", "max", "ratio"], rows),
        "",
        "Reading: cutting the audio into pieces costs little by itself; idle time between pieces "
        "(the real-time pace of a live call) and other streams decoded in between (a busy worker) "
        "cost the most: the decoder's working set is no longer in the CPU caches when the next "
        "piece comes. This is why bench/asr_streams.py's live keyword figure is above offline; the "
        "free-transcription decoder, which works ~50 ms per piece, shows no such gap.",
        END,
    ])


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--interleave", default="5,15", help="stream counts to interleave (default 5,15)")
    p.add_argument("--no-write", action="store_true", help="print only")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    load_before = sp.loadavg()
    config = load()
    analyzer = Analyzer.from_config({**config["asr"], "transcript": False})
    analyzer.warm_up()
    pcm = utterance()
    audio_s = len(pcm) / 2 / RATE
    methods = ways([int(k) for k in args.interleave.split(",") if k.strip()])
    figures: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(args.repeat):
        for name, way in methods.items():
            figures[name].append(way(analyzer, pcm) / audio_s)
        sp.say(f"round {r + 1}/{args.repeat}: " + ", ".join(f"{n.split(',')[0]} {v[-1]:.4f}" for n, v in figures.items()))
    base = statistics.median(figures["offline (one call)"])
    rows = [[name, f"{statistics.median(v):.4f}", f"{min(v):.4f}", f"{max(v):.4f}",
             f"{statistics.median(v) / base:.2f}×"] for name, v in figures.items()]
    print(sp.text_table(["way", "CPU s / audio s", "min", "max", "ratio"], rows))
    if not args.no_write:
        command = shlex.join(["python", "bench/asr_pieces.py", *argv])
        sp.write_doc(render(rows, sp.machine(), command, started, load_before, sp.loadavg(), audio_s, analyzer),
                     begin=BEGIN, end=END)
        print(f"written to {sp.DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
