#!/usr/bin/env python3
"""Record the scenarios on the real nginx: ngxcoro/oracle/scenarios/NNN-name.ngx -> expected/NNN-name.json.

    python tests/record_scenarios.py                 # record every scenario
    python tests/record_scenarios.py 005 sleep-zero  # only these (number, name or file name)
    python tests/record_scenarios.py --check         # re-run and compare, write nothing
    python tests/record_scenarios.py --logs-only 003 # only the log recording (below)

The expected files are produced only here, only from real nginx (never from the model).
Each holds {status, body, error_log, debug, hung, startup_error} (and, for a scenario with
a ``# client-abort-at:`` line, client_abort_at and client_aborted; for one with
``# wire: yes``, head and raw_body: the status line and header lines with every HTTP date
written ``__DATE__``, and the body bytes as framed on the wire) with sorted keys,
indent 1 and a trailing newline. Beside it, expected/logs/NNN-name.json holds the logs
compared more strictly: {debug_lines, error_records} (``oracle.debug_lines``: the debug
lines of the registry's compared events; ``oracle.error_records``: the error log with
whole records, Lua tracebacks included). `--check` is the determinism test: it exits 1
when a fresh run differs from either recording.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ngxcoro.oracle import (EXPECTED_DIR, SCENARIO_DIR, available,  # noqa: E402
                            parse_scenario, run_real)

KEYS = ("status", "body", "error_log", "debug", "hung", "startup_error")
LOG_KEYS = ("debug_lines", "error_records")
# a scenario with "# client-abort-at:" also records when the client closed and whether it
# closed before nginx did
ABORT_KEYS = ("client_abort_at", "client_aborted")
# a scenario with "# wire: yes" also records the raw head (Date normalised) and body bytes
WIRE_KEYS = ("head", "raw_body")
LOGS_DIR = EXPECTED_DIR / "logs"


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


# a pointer nginx prints with %p (a cosocket's "u:%p, c:%p"): an address, different in
# every run, recorded as PTR (the differential tests compare pointers as PTR anyway);
# NULL stays as nginx prints it
_POINTER = re.compile(r"\b(?!0{16}\b)[0-9A-F]{16}\b")


def _unpointer(x):
    if isinstance(x, str):
        return _POINTER.sub("PTR", x)
    if isinstance(x, list):
        return [_unpointer(y) for y in x]
    return x


def record(path: pathlib.Path) -> tuple[dict, dict]:
    text = path.read_text(encoding="utf-8")
    info = parse_scenario(text)
    res = run_real(text, info["request"], info["headers"], info["body"], peers=info["peers"],
                   timeout=info["timeout"],
                   abort_at=info["client_abort_at"], quit_at=info["quit_at"])
    res = {k: (_unpointer(v) if k in ("error_log", "error_records") else v)
           for k, v in res.items()}
    rec = {k: res[k] for k in KEYS}
    if info["client_abort_at"] is not None:       # only then: old recordings stay as they are
        rec.update({k: res[k] for k in ABORT_KEYS})
    if info["wire"]:                              # only then, likewise
        rec.update({k: res[k] for k in WIRE_KEYS})
    return rec, {k: res[k] for k in LOG_KEYS}


def dump(rec: dict) -> str:
    return json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    logs_only = "--logs-only" in argv
    names = [a for a in argv if a not in ("--check", "--logs-only")]
    ok, why = available()
    if not ok:
        print(f"record_scenarios: real nginx is not available: {why}", file=sys.stderr)
        return 2
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    differ = 0
    for path in select(names):
        rec, logs = record(path)
        outs = [] if logs_only else [(EXPECTED_DIR / (path.stem + ".json"), rec, KEYS)]
        outs.append((LOGS_DIR / (path.stem + ".json"), logs, LOG_KEYS))
        summary = (f"status={rec['status']} hung={rec['hung']} log={len(rec['error_log'])} "
                   f"events={len(rec['debug'])} debug_lines={len(logs['debug_lines'])}"
                   + (f" startup_error={rec['startup_error']!r}" if rec["startup_error"] else ""))
        for out, data, keys in outs:
            if check:
                old = out.read_text(encoding="utf-8") if out.exists() else None
                same = old == dump(data)
                differ += not same
                print(f"{'same ' if same else 'DIFF '} {out.relative_to(EXPECTED_DIR)}: {summary}")
                if not same and old is not None:
                    prev = json.loads(old)
                    for k in sorted(set(keys) | set(data)):
                        if prev.get(k) != data[k]:
                            print(f"    {k}: recorded {prev.get(k)!r}\n    {' ' * len(k)}  now      {data[k]!r}")
            else:
                out.write_text(dump(data), encoding="utf-8")
                print(f"wrote {out.relative_to(ROOT)}: {summary}")
    if check and differ:
        print(f"{differ} recording(s) differ from a fresh run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
