"""The worker's graceful exit (`nginx -s quit`): quit_at in the API, the CLI and the
scenario header, and the one-line errors for a bad quit time.

What real nginx does is pinned by scenarios 780-793 (recorded on real nginx with a master
and its worker, SIGQUIT to the master; tests/test_differential.py and test_error_log.py
compare the model with them). The expected values below come from those recordings or
from the reasoning written beside them.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ngxcoro
from ngxcoro.oracle import parse_scenario, read_scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ngxcoro", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


LUA = """
ngx.timer.at(5, function(premature, tag)
    ngx.log(ngx.WARN, tag, " premature=", premature, " exiting=", ngx.worker.exiting(),
            " at(1)=", select(2, ngx.timer.at(1, function() end)))
end, "late")
ngx.say("exiting=", ngx.worker.exiting())
"""


def test_quit_at_fires_the_pending_timer_prematurely():
    # as scenarios 780 and 782 recorded: the pending timer runs at the quit with
    # premature=true, ngx.worker.exiting() is true there, at(1) gives "process exiting";
    # the worker then logs its three notices and the run ends at the quit time
    res = ngxcoro.run_lua(LUA, quit_at=0.2, log_level="notice")
    assert (res.status, res.body, res.hung) == (200, "exiting=false\n", False)
    tails = [line.split("] ", 2)[-1] for line in res.error_log]
    assert tails[0] == "1#1: gracefully shutting down"
    assert any("late premature=true exiting=true at(1)=process exiting, context: ngx.timer"
               in t for t in tails)
    assert tails[-2:] == ["1#1: exiting", "1#1: exit"]
    names = [e["event"] for e in res.events]
    assert names.index("timer_abort") < names.index("timer_abort_found") < names.index(
        "worker_exit")
    assert next(e for e in res.events if e["event"] == "worker_exit")["t_ms"] == 200


def test_without_quit_nothing_changes():
    # no quit: the timer (5 s) is due after the client's timeout; nginx never exits, nothing is
    # premature and ngx.worker.exiting() is false (the run stops at the horizon)
    res = ngxcoro.run_lua(LUA, log_level="notice")
    assert res.body == "exiting=false\n"
    assert not any("premature" in line or "shutting down" in line for line in res.error_log)
    assert not any(e["event"].startswith(("timer_abort", "worker_")) for e in res.events)


@pytest.mark.parametrize("bad", [-1, -0.001, 3, 7.5, "0.2", True, float("nan")])
def test_bad_quit_at_is_a_one_line_error(bad):
    with pytest.raises(ngxcoro.RequestError) as e:
        ngxcoro.run_lua("ngx.say(1)", quit_at=bad)
    assert "\n" not in str(e.value) and str(e.value).startswith("bad quit_at ")


def test_quit_at_zero_and_no_timeout():
    # 0 is the moment the request is served (the model serves it at once); with no
    # client timeout any quit time >= 0 is taken
    assert ngxcoro.run_lua("ngx.say(ngx.worker.exiting())", quit_at=0).body == "false\n"
    res = ngxcoro.run_lua("ngx.sleep(0.5) ngx.say(ngx.worker.exiting())", quit_at=10,
                          timeout=None)
    assert res.body == "false\n"
    with pytest.raises(ngxcoro.RequestError):
        ngxcoro.run_lua("ngx.say(1)", quit_at=-2, timeout=None)


def test_exiting_is_the_one_ngx_worker_field_a_quit_changes():
    # reasoning: ngx_http_lua_ffi_worker_exiting reads ngx_exiting, which the quit sets;
    # the worker's id and count stay (one worker: 0 and 1, scenario 677 records them)
    res = ngxcoro.run_lua("ngx.sleep(0.2) ngx.say(ngx.worker.exiting(), ' ', "
                          "ngx.worker.id(), ' ', ngx.worker.count())", quit_at=0.1)
    assert res.body == "true 0 1\n"
    res = ngxcoro.run_lua("ngx.say(ngx.worker.exiting())")
    assert res.body == "false\n"


def test_scenario_header_quit_at():
    assert parse_scenario("# quit-at: 0.25\nlocation /t {}\n")["quit_at"] == 0.25
    assert parse_scenario("location /t {}\n")["quit_at"] is None
    _, info, rec = read_scenario("786-quit-timers-expiry-order")
    assert info["quit_at"] == 0.25
    # recorded: the four pending timers fire in expiry order (every 0.7 s, at 1, 2.5, 4 s),
    # not in the order they were made (4, 1, every 0.7, 2.5)
    order = [line.split(": ", 1)[1].split(" ")[0] for line in rec["error_log"]
             if "premature=true" in line]
    assert order == ["every-0.7s", "at-1s", "at-2.5s", "at-4s"]


def test_cli_quit_at(tmp_path):
    conf = tmp_path / "q.conf"
    conf.write_text(ngxcoro.lua_location(LUA))
    out = _cli("run", "--config", str(conf), "--quit-at", "0.2", "--log-level", "warn", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["status"] == 200 and any("late premature=true" in x for x in res["error_log"])
    for bad in ("-1", "x", "inf"):
        out = _cli("run", "--config", str(conf), "--quit-at", bad)
        assert out.returncode == 2 and "bad quit time" in out.stderr
        assert "Traceback" not in out.stderr
    out = _cli("run", "--config", str(conf), "--quit-at", "4")      # after the timeout (3 s)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "bad quit_at 4" in out.stderr


def test_loop_end_turn_defers_what_was_posted_between_turns():
    # ngx_worker_process_cycle runs the quit after ngx_process_events_and_timers returned;
    # an event posted then (a premature timer's semaphore post, scenario 789) waits for the
    # next turn: epoll_wait until the next timer, that timer, and only then the posted
    # events. Without end_turn the posted event runs at once, at 0 ms.
    from ngxcoro.nginx.loop import Event, Loop
    for end_turn, want in ((True, [("timer", 100), ("posted", 100)]),
                           (False, [("posted", 0), ("timer", 100)])):
        loop, seen = Loop(), []
        loop.add_timer(100, lambda: seen.append(("timer", loop.now_ms)))
        loop.post_event(Event(lambda: seen.append(("posted", loop.now_ms))))
        if end_turn:
            loop.end_turn()
        while loop.run_once():
            pass
        assert seen == want


def test_loop_no_timers_left_ignores_cancelable_timers():
    # ngx_event_no_timers_left: only non-cancelable timers keep an exiting worker; the
    # model's own client and quit timers are cancelable (they are not the worker's)
    from ngxcoro.nginx.loop import Loop
    loop = Loop()
    t = loop.add_timer(50, lambda: None, kind="client close", cancelable=True)
    assert loop.no_timers_left()
    u = loop.add_timer(70, lambda: None, kind="ngx.sleep")
    assert not loop.no_timers_left()
    loop.del_timer(u)
    assert loop.no_timers_left() and t.active
