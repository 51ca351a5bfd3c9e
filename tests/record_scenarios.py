#!/usr/bin/env python3
"""Record the scenarios on the real nginx: ngxcoro/oracle/scenarios/NNN-name.ngx -> expected/NNN-name.json.

    python tests/record_scenarios.py                 # record every scenario
    python tests/record_scenarios.py 005 sleep-zero  # only these (number, name or file name)
    python tests/record_scenarios.py --check         # re-run and compare, write nothing

The expected files are produced only here, only from real nginx (never from the model).
Each holds {status, body, error_log, debug, hung, startup_error} with sorted keys,
indent 1 and a trailing newline. `--check` is the determinism test: it exits 1 when a
fresh run differs from the recording.
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ngxcoro.oracle import (EXPECTED_DIR, SCENARIO_DIR, available,  # noqa: E402
                            parse_scenario, run_real)

KEYS = ("status", "body", "error_log", "debug", "hung", "startup_error")


def scenario_files() -> list[pathlib.Path]:
    return sorted(SCENARIO_DIR.glob("*.ngx"))


def select(names: list[str]) -> list[pathlib.Path]:
    files = scenario_files()
    if not names:
        return files
    out = []
    for n in names:
        n = pathlib.Path(n).name.removesuffix(".ngx")
        hits = [f for f in files if f.stem == n or f.stem.startswith(n + "-")
                or f.stem.split("-", 1)[-1] == n]
        if not hits:
            raise SystemExit(f"record_scenarios: no scenario matches {n!r}")
        out += [h for h in hits if h not in out]
    return out


def record(path: pathlib.Path) -> dict:
    text = path.read_text(encoding="utf-8")
    info = parse_scenario(text)
    res = run_real(text, info["request"], info["headers"], info["body"], timeout=info["timeout"])
    return {k: res[k] for k in KEYS}


def dump(rec: dict) -> str:
    return json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if a != "--check"]
    ok, why = available()
    if not ok:
        print(f"record_scenarios: real nginx is not available: {why}", file=sys.stderr)
        return 2
    EXPECTED_DIR.mkdir(exist_ok=True)
    differ = 0
    for path in select(names):
        rec = record(path)
        out = EXPECTED_DIR / (path.stem + ".json")
        summary = (f"status={rec['status']} hung={rec['hung']} log={len(rec['error_log'])} "
                   f"events={len(rec['debug'])}"
                   + (f" startup_error={rec['startup_error']!r}" if rec["startup_error"] else ""))
        if check:
            old = out.read_text(encoding="utf-8") if out.exists() else None
            same = old == dump(rec)
            differ += not same
            print(f"{'same ' if same else 'DIFF '} {path.stem}: {summary}")
            if not same and old is not None:
                prev = json.loads(old)
                for k in KEYS:
                    if prev.get(k) != rec[k]:
                        print(f"    {k}: recorded {prev.get(k)!r}\n    {' ' * len(k)}  now      {rec[k]!r}")
        else:
            out.write_text(dump(rec), encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}: {summary}")
    if check and differ:
        print(f"{differ} scenario(s) differ from their recording")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
