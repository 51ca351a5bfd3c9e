#!/usr/bin/env python3
"""Differential fuzzing: random programs (ngxcoro.oracle.fuzz) on real nginx and on the model.

    python3 tools/fuzz.py --seeds 1000-4000 [--jobs N]      # hunt; new classes -> scenarios
    python3 tools/fuzz.py --seeds 1-300 --corpus tests/fuzz/corpus.jsonl   # (re)record corpus
    python3 tools/fuzz.py --seeds 1-50 --no-scenarios --report out.json

Each seed's program runs twice on a fresh real nginx (loopback, ``oracle.run_real``); when
the two answers differ the program is *unstable* and dropped. A stable one runs on the
model (``oracle.fuzz.model_answer``) and the two are compared field by field (status, body,
normalised error log, count history, trace words, hung, startup_error). A program the
model refuses ("... is not modelled") is counted apart, with the API it names.

A divergence's *signature* is the first differing field and its first differing line,
with markers, numbers and chunk lines blanked (``body: 'mN sleep' | 'mN woke'``). For each
signature not yet covered by a scenario (a ``4NN-fuzz-SEED.ngx`` whose title holds the
signature), the smallest program of the class is written to
``ngxcoro/oracle/scenarios/4NN-fuzz-SEED.ngx`` (first free number in 400-449), recorded with
``tests/record_scenarios.py NNN`` and checked once more with ``--check`` (removed when the
check differs). ``--corpus PATH`` writes every stable program with nginx's answer as one
JSON line, with ``xfail`` set to the signature when the model diverges.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import functools
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ngxcoro.oracle import SCENARIO_DIR, available, parse_scenario, run_real  # noqa: E402
from ngxcoro.oracle.fuzz import (first_difference, generate, model_answer,  # noqa: E402
                                 real_answer)

NUMBERS = range(400, 450)


def _blank(x) -> str:
    s = re.sub(r"\bm\d+\b", "mN", str(x))
    s = re.sub(r"\b([sxtr]|co|rm)\d+\b", r"\1N", s)
    s = re.sub(r"nginx\.conf:\d+\)(:\d+)?", "nginx.conf:N)", s)
    s = re.sub(r"\d+", "N", s) if not s.startswith(("FINALIZE", "CLOSE", "TERMINATE")) else s
    return s[:70]


def signature(want: dict, got: dict) -> str | None:
    """'field: nginx item | model item' for the first differing field, or None."""
    f = first_difference(want, got)
    if f is None:
        return None
    a, b = want.get(f), got.get(f)
    if f == "body":
        a, b = a.split("\n"), b.split("\n")
    if isinstance(a, list) and isinstance(b, list):
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        a = a[k] if k < len(a) else "<end>"
        b = b[k] if k < len(b) else "<end>"
    return f"{f}: {_blank(a)!r} | {_blank(b)!r}"


def refused(model: dict) -> str | None:
    """The API the model says it does not model, or None."""
    text = " ".join([model.get("message") or ""] + model.get("error_log", []))
    m = re.search(r"(\S+(?: \([^)]*\))?) is not modelled", text)
    if m:
        return m.group(1)
    return "not modelled" if "not modelled" in text else None


def real_twice(text: str) -> tuple[dict | None, dict]:
    """nginx's answer when two runs agree (else None) and the first answer."""
    info = parse_scenario(text)
    runs = [real_answer(run_real(text, info["request"], info["headers"], info["body"],
                                 timeout=info["timeout"])) for _ in range(2)]
    return (runs[0] if runs[0] == runs[1] else None), runs[0]


def check_seed(seed: int, shdict: bool = False) -> dict:
    text = generate(seed, shdict=shdict)
    out = {"seed": seed, "text": text}
    try:
        stable, first = real_twice(text)
    except Exception as e:  # noqa: BLE001 - counted and shown, never a traceback
        out["real_error"] = f"{type(e).__name__}: {e}"
        return out
    if stable is None:
        out["unstable"] = True
        return out
    out["answer"] = stable
    model = model_answer(text)
    out["refused"] = refused(model)
    out["signature"] = signature(stable, model)
    return out


def parse_seeds(spec: str) -> list[int]:
    seeds = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b or a) + 1))
    return seeds


KNOWN = ROOT / "tests" / "fuzz" / "known.json"


def covered_signatures() -> dict[str, str]:
    """signature -> scenario stem: the title of each 4NN-fuzz scenario (after ``::``) and
    ``tests/fuzz/known.json``, where variants of a class (the same root cause seen in
    another phase or field) point at the class's one scenario."""
    out = json.loads(KNOWN.read_text(encoding="utf-8")) if KNOWN.exists() else {}
    for p in sorted(SCENARIO_DIR.glob("4??-fuzz-*.ngx")):
        title = parse_scenario(p.read_text(encoding="utf-8"))["title"]
        if " :: " in title:
            out[title.split(" :: ", 1)[1]] = p.stem
    return out


def write_scenario(sig: str, result: dict) -> str | None:
    """Write and record the class's scenario; its stem, or None when no number is free or
    the recording is not stable."""
    used = {int(p.name[:3]) for p in SCENARIO_DIR.glob("*.ngx") if p.name[:3].isdigit()}
    free = [n for n in NUMBERS if n not in used]
    if not free:
        print(f"fuzz: no free scenario number in 400-449 for {sig}", file=sys.stderr)
        return None
    stem = f"{free[0]}-fuzz-{result['seed']}"
    body = result["text"].split("\n", 1)[1]           # drop the generator's title line
    path = SCENARIO_DIR / f"{stem}.ngx"
    path.write_text(f"# title: fuzz seed {result['seed']} :: {sig}\n{body}", encoding="utf-8")
    rec = [sys.executable, str(ROOT / "tests" / "record_scenarios.py"), stem]
    if subprocess.run(rec, capture_output=True).returncode != 0 or \
            subprocess.run(rec + ["--check"], capture_output=True).returncode != 0:
        path.unlink()
        (SCENARIO_DIR / "expected" / f"{stem}.json").unlink(missing_ok=True)
        print(f"fuzz: {stem} did not record stably; dropped", file=sys.stderr)
        return None
    return stem


def _chunks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each removable piece: a statement with its nested lines and the
    ``end)`` closing it, or a whole generated location; longest first."""
    out = []
    ind = [len(x) - len(x.lstrip()) for x in lines]
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith("#") or line.strip() in ("}", "end)"):
            continue
        if line.startswith("location /t "):
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() and ind[j] > ind[i]:
            j += 1
        if j < len(lines) and ind[j] == ind[i] and lines[j].strip() in ("}", "end)", "end"):
            j += 1
        out.append((i, j))
    return sorted(out, key=lambda c: c[0] - c[1])


def reduce_program(text: str, sig: str, budget: int = 150) -> str:
    """A smaller program with the same signature: greedy removal of pieces (each try
    runs nginx twice and the model once), at most `budget` tries."""
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        lines = text.split("\n")
        for a, b in _chunks(lines):
            cand = "\n".join(lines[:a] + lines[b:])
            tries += 1
            try:
                stable, _ = real_twice(cand)
            except Exception:  # noqa: BLE001 - a candidate nginx cannot run is just rejected
                stable = None
            if stable is not None and signature(stable, model_answer(cand)) == sig:
                text, progress = cand, True
                break
            if tries >= budget:
                break
    return text


def corpus_line(r: dict) -> str:
    entry = {"seed": r["seed"], "text": r["text"], "answer": r["answer"]}
    if r.get("signature"):
        entry["xfail"] = r["signature"]
    return json.dumps(entry, sort_keys=True, ensure_ascii=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", required=True, help="A-B[,C-D...]")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--corpus", help="write the stable programs and answers here (JSONL)")
    ap.add_argument("--report", help="write every divergence (seed, signature) here (JSON)")
    ap.add_argument("--no-scenarios", action="store_true", help="do not write scenarios")
    ap.add_argument("--log", help="append each program's result here as it comes (JSONL)")
    ap.add_argument("--shdict", action="store_true",
                    help="programs that also use ngx.shared (whole nginx.confs)")
    ap.add_argument("--reduce", action="store_true",
                    help="shrink each new class's smallest program before writing it")
    args = ap.parse_args(argv)
    ok, why = available()
    if not ok:
        print(f"fuzz: real nginx is not available: {why}", file=sys.stderr)
        return 2
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        print(f"fuzz: bad --seeds {args.seeds!r} (want A-B or A-B,C-D)", file=sys.stderr)
        return 2
    results = []
    with concurrent.futures.ProcessPoolExecutor(max(1, args.jobs)) as ex:
        check = functools.partial(check_seed, shdict=args.shdict)
        for k, r in enumerate(ex.map(check, seeds, chunksize=4), 1):
            results.append(r)
            if args.log:
                with open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
            if k % 100 == 0:
                print(f"  ... {k}/{len(seeds)}", file=sys.stderr, flush=True)
    return report(results, args)


def report(results: list[dict], args) -> int:
    stable = [r for r in results if "answer" in r]
    unstable = [r for r in results if r.get("unstable")]
    errors = [r for r in results if "real_error" in r]
    refusals = collections.Counter(r["refused"] for r in stable if r.get("refused"))
    diverged = [r for r in stable if r.get("signature") and not r.get("refused")]
    classes = collections.defaultdict(list)
    for r in diverged:
        classes[r["signature"]].append(r)
    print(f"programs run: {len(results)}  stable: {len(stable)}  unstable dropped: "
          f"{len(unstable)}  nginx errors: {len(errors)}")
    print(f"agree: {len(stable) - len(diverged) - sum(refusals.values())}  "
          f"divergences: {len(diverged)} in {len(classes)} classes  "
          f"refused (not modelled): {sum(refusals.values())}")
    for api, n in refusals.most_common():
        print(f"  refused {n:4d}  {api}")
    by_field = collections.Counter(s.split(":", 1)[0] for r in diverged for s in [r["signature"]])
    print("divergences by first differing field: "
          + ", ".join(f"{f} {n}" for f, n in by_field.most_common()))
    covered = covered_signatures()
    for sig, rs in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        small = min(rs, key=lambda r: (len(r["text"]), r["seed"]))
        where = covered.get(sig)
        if where is None and not args.no_scenarios:
            if args.reduce:
                small = dict(small, text=reduce_program(small["text"], sig))
            where = write_scenario(sig, small)
            if where:
                covered[sig] = where
        print(f"  {len(rs):4d}  {sig}\n        smallest seed {small['seed']}"
              f" ({len(small['text'].splitlines())} lines)" + (f" -> {where}" if where else ""))
    if args.corpus:
        lines = [corpus_line(r) for r in sorted(stable, key=lambda r: r["seed"])
                 if not r.get("refused")]
        pathlib.Path(args.corpus).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.corpus).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {len(lines)} programs to {args.corpus}")
    if args.report:
        pathlib.Path(args.report).write_text(json.dumps(
            {"divergences": [{"seed": r["seed"], "signature": r["signature"]} for r in diverged],
             "unstable": [r["seed"] for r in unstable],
             "refused": {str(r["seed"]): r["refused"] for r in stable if r.get("refused")}},
            indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
