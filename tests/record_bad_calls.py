#!/usr/bin/env python3
"""Record the bad calls of tests/bad_calls.py on real nginx into tests/bad_calls.json.

    python3 tests/record_bad_calls.py            # record every case (run twice: see --check)
    python3 tests/record_bad_calls.py --check    # run again, compare, write nothing

Each case is run twice while recording; a case whose two answers differ is left out
(reported), as is one that hangs. Only real nginx writes this file, never the model.
"""
from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bad_calls import CASES, config  # noqa: E402
from ngxcoro.oracle import available, run_real  # noqa: E402

OUT = HERE / "bad_calls.json"
KEYS = ("status", "body", "error_log")


def answer(name: str) -> dict:
    res = run_real(config(name), "GET /t")
    if res["hung"] or res["startup_error"]:
        return {"hung": res["hung"], "startup_error": res["startup_error"]}
    return {k: res[k] for k in KEYS}


def main(argv) -> int:
    ok, why = available()
    if not ok:
        print(f"record_bad_calls: real nginx is not available: {why}", file=sys.stderr)
        return 2
    check = "--check" in argv
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    out, bad = {}, 0
    for name in CASES:
        first = answer(name)
        if check:
            same = old.get(name, {}).get("answer") == first
            bad += not same
            print(f"{'same' if same else 'DIFF'}  {name}")
            continue
        if "hung" in first or answer(name) != first:
            print(f"dropped (unstable or hung): {name}")
            continue
        out[name] = {"config": config(name), "answer": first}
        print(f"{first['status']}  {name}: {first['error_log'][-1:] or first['body'][:40]!r}")
    if check:
        print(f"{bad} case(s) differ from tests/bad_calls.json")
        return 1 if bad else 0
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
