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
