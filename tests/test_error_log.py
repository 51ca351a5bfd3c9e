"""The error log as nginx writes it: debug lines, Lua tracebacks, levels, the compare command.

Against the log recordings ``ngxcoro/oracle/scenarios/expected/logs/NNN-name.json``, made
from real nginx by ``tests/record_scenarios.py`` (twice: a recording that differed on a
second run would fail its ``--check``):

* ``debug_lines``: the debug lines of the events the registry compares (run_thread,
  resume, sleep, finalize, count ...), as ``oracle.debug_lines`` keeps them from nginx's
  log (time, pid, ``*N`` and pointers masked). The model, run at level debug, writes its
  own debug lines from the registry's `line` templates into its error log; the same
  function reads them there. Every scenario with a log recording.
* ``error_records``: the request-bound records at notice and above with every line, so a
  Lua error's ``stack traceback:`` (ngx_http_lua_thread_traceback) is compared line for
  line. The first lines alone are compared for every scenario by test_differential.py.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import EXPECTED_DIR, ROOT, SCENARIO_DIR, known_gap_params
from ngxcoro import oracle as rn
from ngxcoro.compare import side_by_side

LOGS_DIR = EXPECTED_DIR / "logs"
LOGGED = [p for p in sorted(SCENARIO_DIR.glob("*.ngx")) if (LOGS_DIR / f"{p.stem}.json").exists()]

#: tracebacks through lua-resty-core's Lua functions (ngx.exit is resty/core/exit.lua in
#: nginx: its frames are Lua frames of /usr/share/lua/5.1/resty/core/*.lua, the model's shim
#: is one C frame); the first line of these records still matches (test_differential.py)


def _model(path):
    import ngxcoro
    text = path.read_text(encoding="utf-8")
    info = rn.parse_scenario(text)
    return ngxcoro.run(text, info["request"], headers=list(info["headers"]), body=info["body"],
                       log_level="debug", timeout=info["timeout"],     # the client's horizon
                       abort_at=info["client_abort_at"], quit_at=info["quit_at"],
                       peers=info["peers"])


def _recording(path):
    return json.loads((LOGS_DIR / f"{path.stem}.json").read_text(encoding="utf-8"))


def test_log_recordings():
    assert len(LOGGED) >= 160
    assert all((LOGS_DIR / f"{p.stem}.json").exists() for p in LOGGED if p.stem >= "300")
    for p in LOGGED:
        data = _recording(p)
        assert set(data) == {"debug_lines", "error_records"}, p.name


# debug lines nginx prints from freed memory: known, not modelled
FREED_MEMORY = {"406-fuzz-1939": 'the sleep timer fires on the freed request: nginx prints its '
                                 'URI from freed pool memory ("lua sleep timer expired: \" ?\"")'}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xfail(
    strict=True, reason=FREED_MEMORY[p.stem])) if p.stem in FREED_MEMORY else p
    for p in LOGGED], ids=[p.stem for p in LOGGED])
def test_model_debug_lines_match_recording(path):
    want = _recording(path)["debug_lines"]
    got = rn.debug_lines(list(_model(path).error_log))
    if want != got:
        pytest.fail(f"{path.stem}: the model's debug lines differ from real nginx's\n"
                    + "\n".join(side_by_side(want, got)), pytrace=False)


@pytest.mark.parametrize("path", known_gap_params(LOGGED), ids=[p.stem for p in LOGGED])
def test_model_error_records_match_recording(path):
    want = _recording(path)["error_records"]
    got = rn.error_records(list(_model(path).error_log))
    if want != got:
        rows = [x for rec in want for x in rec.split("\n")]
        mine = [x for rec in got for x in rec.split("\n")]
        pytest.fail(f"{path.stem}: the model's error records differ from real nginx's\n"
                    + "\n".join(side_by_side(rows, mine)), pytrace=False)


def test_traceback_text():
    """ngx_http_lua_thread_traceback's layout, from reasoning over the C: "stack
    traceback:", "coroutine N:" per coroutine, a tab before each frame, C functions as
    "[C]: in function 'name'", the chunk's body as "in main chunk"."""
    import ngxcoro
    res = ngxcoro.run("location /t { content_by_lua_block {\n"
                      "local function f() error('x') end\n"
                      "local w = coroutine.wrap(function() f() end)\n"
                      "w()\n} }", "GET /t")
    rec = rn.error_records(list(res.error_log))
    assert rec == ["[error] lua entry thread aborted: runtime error: "
                   "content_by_lua(nginx.conf:1):2: x\n"
                   "stack traceback:\ncoroutine 0:\n"
                   "\t[C]: in function 'error'\n"
                   "\tcontent_by_lua(nginx.conf:1):2: in function 'f'\n"
                   "\tcontent_by_lua(nginx.conf:1):3: in function <content_by_lua(nginx.conf:1):3>\n"
                   "coroutine 1:\n"
                   "\t[C]: in function 'w'\n"
                   "\tcontent_by_lua(nginx.conf:1):4: in main chunk"]


def test_debug_lines_only_at_debug_level_and_deterministic():
    import ngxcoro
    text = (SCENARIO_DIR / "003-spawn-sleep.ngx").read_text()
    quiet = ngxcoro.run(text, "GET /t")
    assert not any("[debug]" in x for x in quiet.error_log)
    a = ngxcoro.run(text, "GET /t", log_level="debug").error_log
    b = ngxcoro.run(text, "GET /t", log_level="debug").error_log
    assert a == b
    deletes = [x for x in a if "lua deleting light thread" in x]
    assert deletes and all(x.split("thread ")[1][:16].isalnum() for x in deletes)
    # debug lines carry *N and no ", client: ..." suffix (ngx_log_error_core)
    assert all(" *1 " in x and ", client:" not in x for x in a if "[debug]" in x)


def test_log_view_levels():
    log = ["2026/01/01 00:00:00 [notice] 9#9: using the \"epoll\" event method",
           "2026/01/01 00:00:00 [debug] 9#9: *1 lua run thread, top:9 c:1",
           "2026/01/01 00:00:00 [debug] 9#9: *1 malloc: 00005645B21791C0:1024",
           "2026/01/01 00:00:00 [warn] 9#9: *1 [lua] x, client: 127.0.0.1, server: , "
           "request: \"GET /t HTTP/1.1\", host: \"localhost\"",
           "2026/01/01 00:00:00 [debug] 9#9: lua clean up the timer for pending ngx.sleep",
           "2026/01/01 00:00:00 [debug] 9#9: *1 lua deleting light thread 00007F8B923B4E58 (ref 1)"]
    assert rn.log_view(log, "warn") == ["[warn] * [lua] x"]
    assert rn.log_view(log, "debug") == [
        "[debug] * lua run thread, top:9 c:1", "[warn] * [lua] x",
        "[debug] lua clean up the timer for pending ngx.sleep",
        "[debug] * lua deleting light thread PTR (ref 1)"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ngxcoro", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_run_log_level_option(tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("location /t { content_by_lua_block { ngx.log(ngx.INFO, 'hi') ngx.say('ok') } }")
    assert "hi" not in _cli("run", "--config", str(conf)).stdout
    out = _cli("run", "--config", str(conf), "--log-level", "info").stdout
    assert "[info]" in out and "hi" in out


def test_compare_refuses(tmp_path):
    r = _cli("compare", "--config", str(tmp_path / "missing.conf"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = _cli("compare", "--config", str(tmp_path), "--log-level", "loud")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.nginx
def test_compare_same_and_different(tmp_path, real_nginx):
    same = tmp_path / "same.conf"
    same.write_text("error_log logs/error.log warn;\nlocation /t { content_by_lua_block {\n"
                    "ngx.log(ngx.WARN, 'w') ngx.sleep(0) ngx.say('ok') } }\n")
    r = _cli("compare", "--config", str(same))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[warn] * [lua] content_by_lua(nginx.conf:" in r.stdout and "same" in r.stdout
    assert r.stdout.rstrip().endswith("same")
    r = _cli("compare", "--config", str(same), "--log-level", "debug")
    assert r.returncode == 0, r.stdout
    assert "[debug] * lua ready to sleep for 0 ms" in r.stdout
    # client_max_body_size: nginx answers 413 to a body over the limit, and so does the model
    big = tmp_path / "big.conf"
    big.write_text("location /t { client_max_body_size 1; content_by_lua_block {\n"
                   "ngx.req.read_body() ngx.say('read') } }\n")
    body = tmp_path / "body"
    body.write_text("hello")
    r = _cli("compare", "--config", str(big), "--body-file", str(body))
    assert r.returncode == 0, r.stdout
    assert "413" in r.stdout and r.stdout.rstrip().endswith("same")
    # the worker's pid is a fixed number in the model (4242), a process id in nginx
    pid = tmp_path / "pid.conf"
    pid.write_text("location /t { content_by_lua_block {\nngx.say(ngx.worker.pid()) } }\n")
    r = _cli("compare", "--config", str(pid))
    assert r.returncode == 1, r.stdout
    assert "4242" in r.stdout and r.stdout.rstrip().endswith("different")
