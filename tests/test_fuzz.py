"""The fuzz corpus: a few hundred random programs (ngxcoro.oracle.fuzz) and real nginx's answers.

``tests/fuzz/corpus.jsonl`` holds one program a line: its seed, its text and what real
nginx answered (status, body, normalised error log, count history, trace words, hung,
startup_error), recorded twice by ``python3 tools/fuzz.py --seeds 1-300 --corpus
tests/fuzz/corpus.jsonl`` with the programs whose two answers differed dropped (never
from the model); then seeds 100000-100099 (semaphore statements, ``SEMA_FROM``), recorded
the same way into another file and appended (``--corpus`` writes a whole file); then seeds
200001-200450 (timers too, ``TIMER_FROM``) the same way. The first file is near its size cap,
so ``tests/fuzz/corpus2.jsonl`` goes on: seeds 300001-300300 (captures with options,
``CAPTURE_FROM``), recorded by ``python3 tools/fuzz.py --seeds 300001-300300 --corpus
tests/fuzz/corpus2.jsonl`` the same way; and ``corpus3.jsonl``: seeds 310001-310300
(``CAPTURE2_FROM``: response headers, $echo_request_body, exec with an args table or to a
named location), the stable programs of a ``--log`` run (two nginx runs each) with the
model's signature taken again after the fixes; ``corpus4.jsonl``: seeds 310301-310900 by
``--corpus``; ``corpus5.jsonl``: seeds 400001-400350 (``SOCKET_FROM``: TCP cosockets to
this same server), the stable programs of a ``--log`` run with the model's signature taken
again after the fixes, less the seven of one class that a third run showed to be a race
(the client's FIN against the worker's own loopback traffic in the same millisecond);
``corpus6.jsonl``: seeds 410001-410320 (``SOCKET2_FROM``: a timeout a read, pooled
keepalive) the same way, less that race's class (four) and three whose target ends 60 ms
after the last line (the oracle's quiet window: seen in some runs, not in others; one of
them, 410258, also showed a wake-up after ngx_http_finalize_request, fixed and pinned by
scenario 420).
Each entry of every ``corpus*.jsonl`` is run
on the model and compared; an entry whose ``xfail``
names a known divergence (its signature: first differing field, nginx's line | the
model's line) is an expected failure while it still diverges, and passes once fixed.
Runs without nginx.
"""

from __future__ import annotations

import difflib
import json
import pathlib
import sys

import pytest

from ngxcoro.oracle.fuzz import FIELDS, SEMA_FROM, first_difference, generate, model_answer

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(__file__).resolve().parent / "fuzz" / "corpus.jsonl"
CORPORA = sorted(CORPUS.parent.glob("corpus*.jsonl"))
ENTRIES = [json.loads(line) for path in CORPORA
           for line in path.read_text(encoding="utf-8").splitlines() if line]

sys.path.insert(0, str(ROOT / "tools"))
from fuzz import signature  # noqa: E402  (tools/fuzz.py: one definition of a signature)

sys.path.remove(str(ROOT / "tools"))


def explain(seed: int, want: dict, got: dict) -> str:
    out = [f"fuzz seed {seed}: the model differs from real nginx "
           f"(first: {signature(want, got)})"]
    for f in FIELDS:
        a, b = want.get(f), got.get(f)
        if a == b:
            continue
        if f == "body":
            a, b = a.split("\n"), b.split("\n")
        if isinstance(a, list) and isinstance(b, list):
            out.append(f"! {f}:")
            out += ["    " + r for r in difflib.unified_diff(a, b, "nginx", "model", lineterm="")]
        else:
            out.append(f"! {f:<14} nginx: {a!r}  model: {b!r}")
    if got.get("message"):
        out.append(f"  model message: {got['message']}")
    return "\n".join(out)


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"seed{e['seed']}" for e in ENTRIES])
def test_model_matches_fuzz_recording(entry):
    got = model_answer(entry["text"])
    want = entry["answer"]
    if first_difference(want, got) is None:
        return
    if entry.get("xfail"):
        pytest.xfail(f"known divergence: {entry['xfail']}")
    pytest.fail(explain(entry["seed"], want, got), pytrace=False)


def test_corpus_shape():
    assert len(ENTRIES) >= 250
    assert all(path.stat().st_size < 4 * 2**20 for path in CORPORA)
    seeds = [e["seed"] for e in ENTRIES]
    assert seeds == sorted(set(seeds))
    for e in ENTRIES:
        assert set(e) <= {"seed", "text", "answer", "xfail"}, e["seed"]
        assert set(e["answer"]) == set(FIELDS), e["seed"]


def test_generator_still_makes_the_corpus():
    """The same seed gives the same text; when the generator changes, re-record."""
    changed = [e["seed"] for e in ENTRIES if generate(e["seed"]) != e["text"]]
    assert not changed, (f"the generator no longer gives the corpus programs for seeds "
                         f"{changed[:10]}: re-record with python3 tools/fuzz.py --corpus")


def test_known_divergences_are_listed():
    """Each xfail says which field differs first, in the tool's signature form."""
    for e in ENTRIES:
        if "xfail" in e:
            assert e["xfail"].split(":", 1)[0] in FIELDS, e["seed"]


def test_generated_programs_are_bounded_and_spaced():
    """No loops, no zero sleeps, every duration a different power of two times 10 ms."""
    import re
    from ngxcoro.oracle.fuzz import CAPTURE_FROM
    from ngxcoro.oracle.fuzz import SOCKET_FROM
    for seed in (list(range(0, 400)) + list(range(SEMA_FROM, SEMA_FROM + 100))
                 + list(range(CAPTURE_FROM, CAPTURE_FROM + 100))
                 + list(range(SOCKET_FROM, SOCKET_FROM + 100))):
        text = generate(seed)
        assert not re.search(r"\b(while|for|repeat|goto)\b", text), seed
        durations = re.findall(r"(?:ngx\.sleep\(|echo_sleep )([\d.]+)", text)
        durations += re.findall(r"\[([\d.]+), \"", text)
        assert len(durations) == len(set(durations)), seed
        assert all(float(d) * 1000 in (10, 20, 40, 80, 160, 320) for d in durations), seed
        assert text == generate(seed)


def test_shdict_programs_are_whole_configs_with_times_to_live_off_the_steps():
    """generate(seed, shdict=True): a whole nginx.conf with ``lua_shared_dict fz``, whose
    programs use ngx.shared.fz; every time to live is 5 ms off the 10 ms steps a program
    wakes at, and no ttl() prints nginx's drift. (The default programs are the corpus's:
    test_generator_still_makes_the_corpus.)"""
    import re
    from ngxcoro.nginx.conf import load
    used = 0
    for seed in range(0, 60):
        text = generate(seed, shdict=True)
        assert text == generate(seed, shdict=True)
        assert load(text).shared_dicts == {"fz": 1 << 20}
        assert ":ttl(" not in text and not re.search(r"\b(while|for|repeat|goto)\b", text)
        used += "ngx.shared.fz:" in text
        for ttl in re.findall(r"ngx\.shared\.fz:(?:set|add|replace|safe_set)\([^,]+, [^,]+, ([\d.]+)", text):
            assert float(ttl) == 0 or round(float(ttl) * 1000) % 10 == 5, (seed, ttl)
    assert used > 30


def test_semaphore_statements_only_from_sema_from():
    """Seeds below SEMA_FROM never use ngx.semaphore (the old corpus stays as it was);
    from it on, every block starts from the one shared semaphore and most programs
    wait or post on it."""
    assert not any("semaphore" in generate(seed) for seed in range(0, 400))
    texts = [generate(seed) for seed in range(SEMA_FROM, SEMA_FROM + 100)]
    assert all('local S = require "ngx.semaphore"' in t for t in texts)
    assert sum(("sema:wait(" in t) and ("sema:post(" in t) for t in texts) >= 30


def test_timer_statements_only_from_timer_from():
    """Seeds below TIMER_FROM never make timers (the corpus's programs stay as they were);
    from it on, most programs do, and a timer's callback never uses an API that is
    disabled in a timer (ngx.say, captures, reading the body): its markers go to the log."""
    import re
    from ngxcoro.oracle.fuzz import TIMER_FROM
    assert not any("ngx.timer" in generate(seed) for seed in range(SEMA_FROM, SEMA_FROM + 200))
    texts = [generate(seed) for seed in range(TIMER_FROM, TIMER_FROM + 100)]
    assert sum("ngx.timer.at(" in t for t in texts) >= 50
    for t in texts:
        for cb in re.findall(r"ngx\.timer\.at\([\d.]+, function\(premature\)\n(.*?)\n( *)end\)",
                             t, flags=re.S):
            assert not re.search(r"ngx\.say|ngx\.location|read_body|ngx\.exec|ngx\.redirect",
                                 cb[0]), cb[0]


def test_capture_options_only_from_capture_from():
    """Seeds below CAPTURE_FROM never give a capture options beyond ``args`` (the corpus's
    programs stay as they were); from it on, most programs do, every option shows up, and
    an args table has one key only: the order lua_next gives several string keys changes
    from one nginx process to the next (tests/test_args_order.py), so such a program
    could not be recorded twice alike."""
    import re
    from ngxcoro.oracle.fuzz import CAPTURE_FROM, TIMER_FROM
    options = ("method = ngx.HTTP_", "body = ", "vars = {", "ctx = ", "copy_all_vars",
               "share_all_vars", "always_forward_body", "args = {")
    assert not any(o in generate(seed) for seed in range(TIMER_FROM, TIMER_FROM + 200)
                   for o in options)
    texts = [generate(seed) for seed in range(CAPTURE_FROM, CAPTURE_FROM + 100)]
    assert sum("ngx.HTTP_" in t for t in texts) >= 50
    joined = "\n".join(texts)
    assert all(o in joined for o in options)
    assert "ngx.HTTP_HEAD" in joined and "$echo_request_method" in joined
    assert "$echo_request_body" not in joined and 'ngx.exec("@' not in joined
    from ngxcoro.oracle.fuzz_capture import CAPTURE2_FROM
    later = "\n".join(generate(seed) for seed in range(CAPTURE2_FROM, CAPTURE2_FROM + 100))
    assert all(x in later for x in ('ngx.header["X-S"]', "$echo_request_body", 'ngx.exec("@',
                                    "ngx.var.http_content_length"))
    tables = re.findall(r'ngx\.exec\("[^"]*", \{(.*)\}\)', later)
    assert tables and all(table.count(" = ") <= 1 for table in tables), tables
    for table in re.findall(r"args = \{([^{}]*(?:\{[^{}]*\}[^{}]*)?)\}", joined):
        assert table.count(" = ") <= 1, table


def test_socket_statements_only_from_socket_from():
    """Seeds below SOCKET_FROM never make a cosocket (the corpus's programs stay as they
    were); from it on, most programs do, with every read form, settimeout, close,
    setkeepalive with getreusedtimes and a reader thread killed, always to this same
    server (ngx.var.server_port, or __PORT__, which a timer must use: no ngx.var there),
    and the response heads they read carry no Date (more_clear_headers)."""
    import re
    from ngxcoro.oracle.fuzz import SOCKET_FROM
    from ngxcoro.oracle.fuzz_capture import CAPTURE2_FROM
    assert not any("ngx.socket" in generate(seed)
                   for seed in range(CAPTURE2_FROM, CAPTURE2_FROM + 200))
    texts = [generate(seed) for seed in range(SOCKET_FROM, SOCKET_FROM + 100)]
    assert sum("ngx.socket.tcp()" in t for t in texts) >= 60
    joined = "\n".join(texts)
    for form in ('receive("*l")', 'receive("*a")', ":receive(17)", "receiveuntil(",
                 "{inclusive = true}", ":receiveany(", ":settimeout(", ":close()",
                 ":setkeepalive()", ":getreusedtimes()", "ngx.thread.kill(rt",
                 "HTTP/1.1", "HTTP/1.0", "__PORT__", "ngx.var.server_port"):
        assert form in joined, form
    for t in texts:
        if "ngx.socket.tcp()" in t:
            assert "more_clear_headers Date;" in t
        assert not re.findall(r'connect\("(?!127\.0\.0\.1")', t)
        for cb in re.findall(r"ngx\.timer\.at\([\d.]+, function\(premature\)\n(.*?)\n( *)end\)",
                             t, flags=re.S):
            assert "ngx.var.server_port" not in cb[0], cb[0]


def test_socket_timeouts_from_socket2_from_never_repeat():
    """From SOCKET2_FROM on, a timeout is set for one read (each from the pool, so no two
    alike in a program; the next read goes back to 60 s), never left for a second read to
    time out after the same wait, and a keepalive target keeps the connection
    (keepalive_timeout 10s), so the second connect takes it from the pool."""
    import re
    from ngxcoro.oracle.fuzz_socket import SOCKET2_FROM
    kept = 0
    for seed in range(SOCKET2_FROM, SOCKET2_FROM + 100):
        text = generate(seed)
        ms = [m for m in re.findall(r":settimeout\((\d+)\)", text) if m != "60000"]
        assert len(ms) == len(set(ms)), seed
        assert all(int(m) in (10, 20, 40, 80, 160, 320) for m in ms), seed
        for block in re.findall(r"location /k\d+ \{\n(.*?)\n\}", text, flags=re.S):
            if "Content-Length" in block:
                assert "keepalive_timeout 10s;" in block, seed
                kept += 1
    assert kept >= 10


def test_signature_names_the_first_differing_field_and_line():
    want = {"status": 200, "body": "m1\nm2 woke\n", "error_log": [], "count": [], "trace": [],
            "hung": False, "startup_error": None}
    got = dict(want, body="m1\nm7 sleep\n", error_log=["[error] x"])
    assert signature(want, got) == "body: 'mN woke' | 'mN sleep'"
    assert signature(want, dict(want)) is None
    assert signature(want, dict(want, count=["CLOSE_REQ c=1"])) == "count: '<end>' | 'CLOSE_REQ c=1'"


def test_tool_reads_seed_ranges_and_refuses_bad_ones():
    import subprocess
    from fuzz import parse_seeds  # noqa: F401 - tools/ was on sys.path when fuzz was imported
    assert parse_seeds("3-5,9") == [3, 4, 5, 9]
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--seeds", "x-y"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "fuzz:" in out.stderr


def test_reducer_pieces_keep_blocks_whole():
    """Each piece the reducer may cut opens as many functions and blocks as it closes."""
    from fuzz import _chunks
    for seed in (3, 63, 86):
        lines = generate(seed).split("\n")
        for a, b in _chunks(lines):
            piece = [x.strip() for x in lines[a:b]]
            assert sum(x.endswith("function()") for x in piece) == piece.count("end)"), piece
            assert sum(x.endswith("{") for x in piece) == piece.count("}"), piece


def test_every_known_divergence_has_its_scenario():
    """Each xfail of the corpus is a class with one recorded 4NN-fuzz scenario
    (tests/fuzz/known.json maps a class's variants to it)."""
    from fuzz import covered_signatures
    from ngxcoro.oracle import EXPECTED_DIR, SCENARIO_DIR
    covered = covered_signatures()
    for stem in set(covered.values()):
        assert (SCENARIO_DIR / f"{stem}.ngx").exists() and (EXPECTED_DIR / f"{stem}.json").exists()
        assert 400 <= int(stem[:3]) <= 449
    missing = sorted({e["xfail"] for e in ENTRIES if "xfail" in e} - set(covered))
    assert not missing, missing
