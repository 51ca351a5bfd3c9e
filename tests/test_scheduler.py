"""Scheduler rules that real nginx cannot show (they leave no trace in its logs), checked
against the C code's structure, with the reasoning written next to each test."""
import ngxcoro
from ngxcoro.ngx_lua.common import CoStatus


def events_of(config, request="GET /t"):
    hooks = ngxcoro.Hooks()
    seen = []
    hooks.add(lambda event, data: seen.append((event, data)))
    ngxcoro.run(config, request, hooks=hooks)
    return seen


def test_run_posted_threads_stops_once_the_connection_is_destroyed():
    # ngx_http_lua_run_posted_threads tests c->destroyed before it pops a node: after the
    # request is freed its ctx is gone, so it must not touch posted_threads at all.  Here a
    # light thread in access execs while the entry thread is still posted; the exec'd
    # location finishes the request, access_by_chunk's finalize_request(r, NGX_DONE)
    # frees it, and the posted loop that follows must pop nothing.
    config = open("ngxcoro/oracle/scenarios/141-exec-access-thread-destroyed.ngx").read()
    seen = [e for e, _ in events_of(config)]
    closed = seen.index("close_connection")
    assert "run_posted_thread" not in seen[closed:]


def test_posted_thread_left_behind_is_skipped_not_run():
    # reset_ctx leaves posted_threads alone (a stale node for the rewrite entry thread, which
    # a thread's ngx.exit(ngx.OK) killed); the content phase's posted loop pops it and skips
    # it when its status is not running, but that node is the reused entry co ctx, which is
    # running again: this is the stale resume of scheduler-semantics section 7.14
    config = open("ngxcoro/oracle/scenarios/077-stale-posted-entry.ngx").read()
    pops = [d for e, d in events_of(config) if e == "run_posted_thread"]
    assert pops and pops[0]["co"].name == "entry"


def test_post_thread_appends_at_the_tail():
    # the entry spawns t1: spawn posts the entry ([entry]) and runs t1 at once; t1 yields,
    # a time slice, and since the queue is not empty t1 is posted too, at the tail
    # ([entry, t1]); the posted loop pops the entry ([t1]), which spawns t2: the entry goes
    # behind t1 ([t1, entry]), t2 runs and yields behind it ([t1, entry, t2])
    res = ngxcoro.run_lua("""
        for i = 1, 2 do ngx.thread.spawn(function() coroutine.yield() end) end
    """, snapshots=True)
    queues = [s["requests"][0]["ctx"]["posted_threads"] for s in res.snapshots
              if s["event"] == "post_thread"]
    assert queues[:4] == [["entry"], ["entry", "t1"], ["t1", "entry"], ["t1", "entry", "t2"]]


def test_a_blocked_entry_thread_reports_running():
    # the entry co ctx is embedded and zeroed, and status 0 is RUNNING: a blocked entry
    # thread never becomes "suspended" (section 7.4)
    res = ngxcoro.run_lua("""
        local me = coroutine.running()
        local t = ngx.thread.spawn(function() ngx.say(coroutine.status(me)) end)
    """)
    assert res.body == "running\n"
    assert CoStatus(0) is CoStatus.RUNNING
