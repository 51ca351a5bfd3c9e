"""The client's close at a chosen time: lua_check_client_abort and ngx.on_abort.

The expected values come from the real-nginx recordings of scenarios 580-599
(``ngxcoro/oracle/scenarios/expected/58x-*.json``, made by
``tests/record_scenarios.py``, each checked twice) or from the reasoning written
beside them; test_differential.py and test_error_log.py compare those scenarios
whole.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import ngxcoro
from conftest import EXPECTED_DIR, ROOT, SCENARIO_DIR
from ngxcoro.oracle import parse_scenario
from ngxcoro.viz.timeline import timeline_svg


def _scenario(stem):
    text = (SCENARIO_DIR / f"{stem}.ngx").read_text(encoding="utf-8")
    return text, parse_scenario(text), json.loads((EXPECTED_DIR / f"{stem}.json").read_text())


def test_the_header_line_and_its_default():
    assert parse_scenario("# client-abort-at: 0.25\nlocation /t {}\n")["client_abort_at"] == 0.25
    assert parse_scenario("location /t {}\n")["client_abort_at"] is None


def test_recordings_say_when_the_client_closed():
    # 580: the client closed at 0.2 s, before nginx (it answers at 0.5 s); 592: nginx
    # closed at 0.05 s, so the client never aborted
    _, info, rec = _scenario("580-abort-handler-returns")
    assert (info["client_abort_at"], rec["client_abort_at"], rec["client_aborted"]) == (0.2, 0.2, True)
    assert (rec["status"], rec["body"], rec["hung"]) == (None, "", False)
    _, _, rec = _scenario("592-abort-after-response")
    assert (rec["client_aborted"], rec["status"], rec["body"]) == (False, 200, "done\n")


def test_the_answer_is_what_the_client_had_before_closing():
    # 599: the header and "first\n" went out with ngx.flush(true) before the close; the
    # rest never reaches the client, so the chunked body is incomplete: status None
    text, info, rec = _scenario("599-abort-handler-exit-after-header")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"])
    assert (res.status, res.body, res.hung) == (rec["status"], rec["body"], False) == (None, "first\n", False)
    assert res.client_abort_at == 0.2 and res.to_json()["client_abort_at"] == 0.2


def test_nginx_closing_first_leaves_no_abort():
    text, info, rec = _scenario("592-abort-after-response")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"])
    assert (res.status, res.body) == (200, "done\n")
    assert res.client_abort_at is None and "client_abort_at" not in res.to_json()


def test_without_abort_at_nothing_changes():
    res = ngxcoro.run_lua("ngx.sleep(0.1) ngx.say('x')")
    assert (res.status, res.body, res.client_abort_at) == (200, "x\n", None)


def test_the_suspended_handler_is_not_a_uthread_and_is_deleted_at_the_end():
    # ngx.on_abort's thread is counted in ctx->uthreads only once it starts: with no
    # close, the entry thread's end finishes the request (its state, ref 1, is deleted
    # then), and the request cleanup's finalize_threads deletes the handler (ref 2) last,
    # as recording 592 shows
    res = ngxcoro.run("lua_check_client_abort on;\nlocation /t { content_by_lua_block {\n"
                      "ngx.on_abort(function() end) ngx.sleep(0.1) ngx.say('ok') } }",
                      log_level="debug")
    assert (res.status, res.body) == (200, "ok\n")
    deletes = [x.split(": ", 1)[1] for x in res.error_log if "lua deleting light thread" in x]
    assert [d.rsplit("(", 1)[1] for d in deletes] == ["ref 1)", "ref 2)"]


def test_a_client_that_closes_before_its_body_is_sent_is_refused():
    res = ngxcoro.run("lua_check_client_abort on;\nlocation /t { content_by_lua_block {\n"
                      "ngx.sleep(0.5) } }", "POST /t", body=[(0.1, "ab"), (0.3, "cd")],
                      abort_at=0.2)
    assert res.refused and "whole request body" in res.message


def test_the_timeline_marks_the_close():
    text, info, _ = _scenario("584-abort-no-handler")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"], snapshots=True)
    steps = [s for s in res.snapshots if s["event"] == "client_close"]
    assert len(steps) == 1 and steps[0]["t_ms"] == 200
    assert "the client closed the connection at 200 ms" in steps[0]["explain"]
    assert "client closed" in timeline_svg(res.snapshots)
    finals = [s["data"]["rc"] for s in res.snapshots if s["event"] == "finalize_request"]
    assert 499 in finals


def test_cli_client_abort_at(tmp_path):
    text, _, rec = _scenario("580-abort-handler-returns")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "ngxcoro", "run", "--config", str(conf),
                          "--client-abort-at", "0.2", "--json"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert (obj["status"], obj["body"], obj["hung"], obj["client_abort_at"]) == (
        rec["status"], rec["body"], False, 0.2)


def test_on_abort_in_a_timer_is_refused_first():
    # ngx_http_lua_on_abort calls ngx_http_lua_check_fake_request2 before the duplicate
    # and directive checks (second-ring-semantics.md 4.1): a timer's fake request
    # (fd -1, context ngx.timer) gets "API disabled in the context of ngx.timer"
    from types import SimpleNamespace as NS
    from ngxcoro.ngx_lua import control
    from ngxcoro.ngx_lua.common import CONTEXT_TIMER
    from ngxcoro.ngx_lua.protocol import err
    ctx = NS(context=CONTEXT_TIMER, on_abort_co_ctx=object())
    w = NS(cur_r=NS(connection=NS(fd=-1), ctx=ctx))
    assert control.on_abort(w, 1) == err("API disabled in the context of ngx.timer")


GC_LINES = ("create ", "spawn user thread", "terminate ", "delete thread")


def _gc_stap(res):
    """The lines of lua-nginx-module's t/StapThread.pm GC script."""
    return [x for x in res.stap if x.startswith(GC_LINES)]


def test_a_rewrite_handler_is_deleted_when_the_content_phase_resets_the_ctx():
    # upstream t/023-rewrite/on-abort.t TEST 9 gives the stap of the rewrite part:
    # "create 2 in 1" (the handler), "terminate 1: ok", "delete thread 1", and the
    # content phase's ctx reset deletes the suspended handler: "delete thread 2".  Its
    # content entry thread is numbered 3 there; ngx_lua 0.10.23 caches the rewrite
    # entry's lua_State and the content entry reuses it (real nginx here logs "lua
    # caching unused lua thread P (ref 1)" then "lua reusing cached lua thread P (ref
    # 1)", the same P), and the GC script numbers threads by that pointer: 1 again
    res = ngxcoro.run("location /t {\n lua_check_client_abort on;\n"
                      " rewrite_by_lua_block { ngx.on_abort(function() end) }\n"
                      " content_by_lua_block { ngx.say('done') }\n}")
    assert (res.status, res.body) == (200, "done\n")
    assert _gc_stap(res) == ["create 2 in 1", "terminate 1: ok", "delete thread 1",
                             "delete thread 2", "terminate 1: ok", "delete thread 1"]


def test_exit_408_in_the_handler_kills_the_sleeping_light_threads():
    # scenario 724 (recorded): the stap follows upstream t/101-on-abort.t TEST 11
    # (create 2 in 1, create 3 in 1, spawn user thread 3 in 1, terminate 1: ok, delete
    # thread 1, terminate 2: ok, delete thread 2, delete thread 3) with a second sleeper
    # (4): the request cleanup deletes the co ctxs in creation order, the handler first
    text, info, rec = _scenario("724-abort-handler-408-sleepers")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"])
    assert (res.status, rec["status"]) == (None, None)
    assert _gc_stap(res) == ["create 2 in 1", "create 3 in 1", "spawn user thread 3 in 1",
                             "create 4 in 1", "spawn user thread 4 in 1", "terminate 1: ok",
                             "delete thread 1", "terminate 2: ok", "delete thread 2",
                             "delete thread 3", "delete thread 4"]


def test_an_unnoticed_close_makes_the_lingering_shutdown_fail():
    # real nginx (python -m ngxcoro compare on scenario 727 and on upstream
    # t/023-rewrite/client-abort.t TEST 3's program, at info level, on this machine):
    # with the directive off nobody reads the client's FIN, so c->read->ready makes
    # ngx_http_finalize_connection close lingering; the answer written at 0.4 s was
    # reset by the client's kernel, so shutdown() fails with ENOTCONN, logged at info
    text, info, _ = _scenario("727-abort-unnoticed-late-answer")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"], log_level="info")
    tail = [x.split(" 1#1: ", 1)[1] for x in res.error_log[-2:]]
    assert tail[0].startswith("*1 [lua] rewrite_by_lua(nginx.conf:6):3: rewrite wakes")
    assert tail[1].startswith("*1 shutdown() failed (107: Transport endpoint is not connected)"
                              ", client: ")


def test_a_noticed_close_closes_at_once():
    # with lua_check_client_abort on, ngx_http_lua_check_broken_connection set
    # c->read->eof, so ngx_http_finalize_request closes the request without a lingering
    # close and no shutdown() is logged: real nginx's info lines for scenario 580 (python
    # -m ngxcoro compare --log-level info, on this machine) are these three
    text, info, _ = _scenario("580-abort-handler-returns")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"], log_level="info")
    infos = [x.split(" 1#1: *1 ", 1)[1].split(", client: ")[0]
             for x in res.error_log if "[info]" in x]
    assert infos == ["client prematurely closed connection",
                     "client prematurely closed connection", "writev() failed (32: Broken pipe)"]


def test_stap_of_a_handler_that_spawns_and_waits():
    # scenario 825 (recorded): ngx.on_abort's coroutine_create_helper names the handler "2
    # in 1" (no spawn line: it is not started until the close).  At the close the handler
    # spawns 3 and waits for it; 3 ends while its parent waits, so it is deleted at once
    # (as upstream t/101-on-abort.t's handler blocks delete a waited thread).  The handler
    # then ends with its parent, the entry thread, not waiting for it: a zombie, deleted
    # only by the request's cleanup, after the entry thread's own end, in creation order.
    text, info, rec = _scenario("825-abort-handler-spawns-and-waits")
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"])
    assert (res.status, rec["status"]) == (None, None)
    assert _gc_stap(res) == ["create 2 in 1", "create 3 in 2", "spawn user thread 3 in 2",
                             "terminate 3: ok", "delete thread 3", "terminate 2: ok",
                             "terminate 1: ok", "delete thread 2", "delete thread 1"]
