"""ngx.timer: what the scenarios 500-531 (recorded on real nginx) do not show directly.

Reasoning, stated with each test: the oracle's wait for timers, the note a run stopped at
the horizon leaves, and what the pictures get (a timer's fake request beside the real one).
"""
from __future__ import annotations

from conftest import SCENARIO_DIR

import ngxcoro
from ngxcoro.oracle.run import _timers_done


def _scenario(name):
    return (SCENARIO_DIR / f"{name}.ngx").read_text(encoding="utf-8")


def test_runner_waits_for_every_timer_created():
    # created = "created timer" + "created next timer"; each must have expired, and each
    # expired one ended (its fake connection closed, or it failed to start)
    log = ("created timer (co: 1 delay: 50 ms): sz=2\n"
           "lua ngx.timer expired\n")
    assert not _timers_done(log)                            # running
    assert _timers_done(log + "http lua close fake http connection 1\n")
    every = log + "created next timer (co: 2 delay: 50 ms)\n"
    assert not _timers_done(every + "http lua close fake http connection 1\n")   # armed again
    failed = every + "lua ngx.timer expired\n[alert] lua failed to run timer with ...\n"
    assert _timers_done(failed + "http lua close fake http connection 1\n")
    assert _timers_done("no timer at all")


def test_every_forever_ends_at_the_horizon_with_a_note():
    # every(0.8) from a request at 0 s: runs at 0.8, 1.6 and 2.4 s; the next one (3.2 s) is
    # past the client's 3 s timeout, where the run ends; the request answered long before
    res = ngxcoro.run(_scenario("514-timer-every-forever"))
    assert res.status == 200 and res.body == "started\n" and not res.hung
    assert res.message is None
    note = res.notes[0]
    assert ("ngx.timer.every of timer1 (function defined at content_by_lua(nginx.conf:5):3, "
            "period 0.8 s) ran 3 times") in note
    assert "due again at 3.2 s" in note and "horizon (3 s" in note


def test_no_note_when_every_timer_is_done():
    res = ngxcoro.run(_scenario("500-timer-at-args"))
    assert res.notes == []


def test_snapshots_show_the_fake_request_and_the_lua_timer():
    res = ngxcoro.run(_scenario("505-timer-uthread-sleeps"), snapshots=True)
    snaps = res.snapshots
    created = next(s for s in snaps if s["event"] == "timer_create")
    assert [t["kind"] for t in created["timers"]] == ["ngx.timer"]
    # once the timer fired: the main request (freed, connection 1) and the timer's fake
    # request (connection 2, count 1, context ngx.timer), whose coroutines are the timer's
    # thread (its entry) and the light thread it spawned
    s = next(s for s in snaps if s["event"] == "sleep" and len(s["requests"]) == 2)
    main, fake = s["requests"]
    assert (main["fake"], main["connection"], main["freed"]) == (False, 1, True)
    assert (fake["fake"], fake["connection"], fake["count"], fake["uri"]) == (True, 2, 1, "")
    assert fake["ctx"]["context"] == "ngx.timer" and fake["ctx"]["entry_co_ctx"] == "timer1"
    mine = [c["name"] for c in s["coroutines"] if c["request"] == 1]
    assert mine == ["timer1", "t1"]


def test_counters_follow_lmcf():
    # pending_timers++ at creation, -- when it fires; running_timers++ before the first
    # run_thread, -- in the request cleanup of the fake request: both end at 0
    res = ngxcoro.run_lua("""
        ngx.timer.at(0.01, function() ngx.sleep(0.01) end)
        ngx.say(ngx.timer.pending_count(), " ", ngx.timer.running_count())
        ngx.sleep(0.015)
        ngx.say(ngx.timer.pending_count(), " ", ngx.timer.running_count())
        ngx.sleep(0.01)
        ngx.say(ngx.timer.pending_count(), " ", ngx.timer.running_count())
    """)
    assert res.body == "1 0\n0 1\n0 0\n"


def test_resuming_the_requests_coroutine_from_a_timer_is_refused():
    # recorded on real nginx while writing scenario 537: "lua coroutine: resume", then the
    # worker died (no status, nothing more in the log); the model says so and stops
    res = ngxcoro.run_lua("""
        local co = coroutine.create(function() coroutine.yield(1) end)
        ngx.timer.at(0.05, function() pcall(coroutine.resume, co) end)
        ngx.sleep(0.1)
        ngx.say("not reached")
    """)
    assert res.refused and res.status is None and "crashes" in res.message


def test_stap_of_a_timer_made_in_log_by_lua():
    """lua-nginx-module t/106-timer.t TEST 9 (stap_out with $::GCScript): a timer
    created from log_by_lua is created "in" the main lua_State, the first pointer the
    probe sees (1); the timer's thread is 2 and is the only one that terminates (the
    log chunk runs under lua_pcall, not as a thread).  Was a Python crash: the log
    phase has no current co ctx."""
    conf = """
location /t {
    echo done;
    log_by_lua_block {
        ngx.timer.at(0.05, function() ngx.sleep(0.02) end)
    }
}
"""
    r = ngxcoro.run(conf, timeout=0.3)
    assert r.status == 200
    assert list(r.stap) == ["create 2 in 1", "terminate 2: ok", "delete thread 2"]


def test_stap_reuses_the_entry_state_for_a_later_timer():
    """t/106-timer.t TEST 20 expects "create 3 in 2" for a timer made by a timer, but
    that stap_out predates the thread cache: on nginx 0.10.23 the debug log shows the
    second timer's thread as "lua reusing cached lua thread P (ref 1)" with the same
    pointer as the request's entry thread (run on this machine, scratch block), and
    the GCScript numbers threads by pointer, so the second timer is 1 again."""
    conf = """
location /t {
    content_by_lua_block {
        ngx.timer.at(0, function() ngx.timer.at(0, function() end) end)
        ngx.say("ok")
    }
}
"""
    r = ngxcoro.run(conf, timeout=0.3)
    assert list(r.stap) == ["create 2 in 1", "terminate 1: ok", "delete thread 1",
                            "create 1 in 2", "terminate 2: ok", "delete thread 2",
                            "terminate 1: ok", "delete thread 1"]


def test_timer_from_init_worker_is_created_in_the_main_state():
    # scenario 761: init_worker_by_lua arms a 0 ms timer; the request comes after it ran.
    # Reasoning for the stap lines: ngx_http_lua_init_worker runs the chunk on the main state
    # (lmcf->lua, no coroutine), so the user_coroutine_create probe of
    # ngx_http_lua_ngx_timer_helper names the main state as the parent: the GC script numbers
    # states by first mention, parent first ("create 2 in 1").  The timer's thread ends and is
    # cached (its fake request's cleanup), and the request's entry thread takes that cached
    # state again (ngx_http_lua_new_thread): the entry thread has no create line.  The GC
    # script's F(ngx_http_handler) empties its id table when the client's request starts
    # (in_req becomes 1: "delete ids; cur = 0", t/StapThread.pm), so that reused state is
    # numbered 1 afresh in the request's lines.
    res = ngxcoro.run(_scenario("761-init-worker-zero-timer-before-request"), "GET /t")
    assert res.stap == ["create 2 in 1", "terminate 2: ok", "delete thread 2",
                        "terminate 1: ok", "delete thread 1"]
    assert res.body == "yes, from the timer\n"          # the timer ran first (recorded)


def test_stap_ids_restart_when_the_request_comes_after_init_worker():
    # scenario 800 (recorded): init_worker_by_lua runs on the main state, whose 0 ms timer
    # holds the job loop: "create 2 in 1".  The GC script (t/StapThread.pm) empties its id
    # table in F(ngx_http_handler) when the client's request is the only one alive, so the
    # names start again at 1: the request's entry thread ends first (100 ms) and is named
    # there, "terminate 1: ok" then its deletion by the request's cleanup; the loop's thread,
    # named after it, ends on its 500 ms wait timeout and its fake request deletes it.
    res = ngxcoro.run(_scenario("800-job-queue-init-worker-loop"), "GET /t")
    assert res.body == "j1: true\nj2: true\nj3: true\n"
    assert res.stap == ["create 2 in 1", "terminate 1: ok", "delete thread 1",
                        "terminate 2: ok", "delete thread 2"]


def test_stap_of_a_timer_light_thread_that_outlives_the_timer_function():
    # scenario 832 (recorded): the request (1) makes the timer (2), whose function spawns a
    # light thread (3) waiting on a semaphore and returns.  ngx_http_lua_run_thread deletes
    # a finished entry thread at once even with light threads pending ("terminate 2: ok",
    # "delete thread 2"); the light thread, woken by the request's post at 150 ms, has no
    # parent left to wait for it and is deleted as it ends; then the request ends.  Same
    # shape as upstream t/106-timer.t's light-thread-in-timer blocks (uthread spawned in the
    # timer's thread, the timer's thread terminating first).
    res = ngxcoro.run(_scenario("832-timer-uthread-outlives-timer-main"), "GET /t")
    assert res.body == "ok\n"
    assert res.stap == ["create 2 in 1", "create 3 in 2", "spawn user thread 3 in 2",
                        "terminate 2: ok", "delete thread 2", "terminate 3: ok",
                        "delete thread 3", "terminate 1: ok", "delete thread 1"]
