"""The systemtap "GC script" lines follow the C's probe points.

Expected traces come from lua-nginx-module's own test suite (t/093-uthread-spawn.t,
t/094-uthread-exit.t, t/095-uthread-exec.t ... as quoted in
shared/docs/scheduler-semantics.md section 5) or from reasoning written next to
each case: real nginx here is built without dtrace, so its probes cannot be read.
"""
import ngxcoro


def stap(lua):
    return ngxcoro.run_lua(lua).stap


def test_spawn_without_io_t093_T1():
    # the child ends first and becomes a zombie; the entry thread's zombie
    # cleanup deletes it before the entry's own delete
    assert stap("""
        ngx.thread.spawn(function() ngx.say("hello in thread") end)
        ngx.say("after")
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 2: ok",
             "terminate 1: ok", "delete thread 2", "delete thread 1"]


def test_child_sleeps_t093_T3():
    assert stap("""
        ngx.thread.spawn(function() ngx.sleep(0.1) ngx.say("hello in thread") end)
        ngx.say("after")
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 1: ok",
             "delete thread 1", "terminate 2: ok", "delete thread 2"]


def test_nested_spawn_without_io_t093_T10():
    # thread 3 ends first: a zombie of thread 2; the entry ends next (2 still
    # posted behind it); then 2 ends, deleting its zombie 3 before itself
    assert stap("""
        ngx.thread.spawn(function()
            ngx.thread.spawn(function() ngx.say("in 3") end)
            ngx.say("in 2")
        end)
        ngx.say("in 1")
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "create 3 in 2",
             "spawn user thread 3 in 2", "terminate 3: ok", "terminate 1: ok",
             "delete thread 1", "terminate 2: ok", "delete thread 3", "delete thread 2"]


def test_exit_from_a_thread_deletes_threads_then_entry_t094_T1():
    # exit gives "terminate <current>: ok", then finalize_threads deletes the
    # light threads in creation order and the entry thread last
    assert stap("""
        ngx.thread.spawn(function() ngx.say("hello") ngx.exit(0) end)
        ngx.say("never")
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 2: ok",
             "delete thread 2", "delete thread 1"]


def test_plain_coroutine_has_no_delete_line():
    # plain coroutines hold no registry ref, so del_thread never fires for them
    assert stap("""
        local co = coroutine.create(function() coroutine.yield(1) end)
        coroutine.resume(co)
        coroutine.resume(co)
    """) == ["create 2 in 1", "terminate 2: ok", "terminate 1: ok", "delete thread 1"]


def test_failing_wrap_aborts_its_caller_without_a_terminate_line():
    # propagate_error: the wrap child gets "terminate N: fail"; the entry thread
    # it aborts gets only its delete (section 5 of the semantics notes)
    assert stap("""
        local f = coroutine.wrap(function() error("werr") end)
        pcall(f)
    """) == ["create 2 in 1", "terminate 2: fail", "delete thread 1"]


def test_ids_are_hex_in_create_and_decimal_in_terminate():
    # 16 light threads: the 10th child is id 11 = 0xb; terminate prints 11
    lines = stap("""
        for i = 1, 16 do ngx.thread.spawn(function() end) end
    """)
    assert "spawn user thread b in 1" in lines
    assert "terminate 11: ok" in lines


def test_killed_sleeper_is_deleted_once_and_never_terminates():
    # kill: cleanup (the timer) + del_thread; no coroutine_done probe
    assert stap("""
        local t = ngx.thread.spawn(function() ngx.sleep(1) end)
        ngx.thread.kill(t)
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "delete thread 2",
             "terminate 1: ok", "delete thread 1"]


def test_timer_thread_t106_T1_T4_T7():
    # lua-nginx-module t/106-timer.t TEST 1 (at 0.05), TEST 4 (the callback sleeps) and
    # TEST 7 (a 0 timer) all print the same: the timer's thread is created by the entry
    # thread (ngx_http_lua_ngx_timer_helper's user_coroutine_create probe), the entry ends
    # first, then the timer's thread ends as the entry thread of its fake request
    want = ["create 2 in 1", "terminate 1: ok", "delete thread 1", "terminate 2: ok",
            "delete thread 2"]
    for body in ("ngx.sleep(0)", "ngx.sleep(0.02)", ""):
        for delay in ("0.05", "0"):
            assert stap(f"""
                local function f(premature) {body} end
                local ok, err = ngx.timer.at({delay}, f)
                ngx.say("registered timer")
            """) == want, (body, delay)


# ngx.exec from light threads: the expected GC-script lines are those of
# t/095-uthread-exec.t's blocks (TEST 1, 2, 4, 5, 6), on programs of our own
# with the same shape (real nginx here has no dtrace; its answers to these
# programs agree with the model's, see scenarios 1111-1112)
EXEC_LOCS = """
location = /landing { echo "landed"; }
location = /slow { echo_sleep 0.2; }
"""


def stap_conf(lua, request="POST /t", **kw):
    conf = EXEC_LOCS + f"location = /t {{\n content_by_lua_block {{{lua}\n }}\n}}\n"
    return ngxcoro.run(conf, request, **kw).stap


def test_exec_in_thread_while_entry_sleeps_t095_T1():
    # the thread's exec ends it ("terminate 2: ok") and the request's threads are
    # finalized: the thread's delete, then the entry's (still pending on its sleep)
    assert stap_conf("""
        ngx.thread.spawn(function() ngx.exec("/landing") end)
        ngx.sleep(0.5)
        ngx.say("never")
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 2: ok",
             "delete thread 2", "delete thread 1"]


def test_exec_in_thread_after_entry_ended_t095_T2():
    # the entry ends first (and is deleted); the thread wakes from its sleep and execs
    assert stap_conf("""
        ngx.thread.spawn(function() ngx.sleep(0.05) ngx.exec("/landing") end)
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 1: ok",
             "delete thread 1", "terminate 2: ok", "delete thread 2"]


def test_exec_in_thread_with_another_thread_sleeping_t095_T4():
    # threads 2 and 3 both sleep, the entry ends; 2 wakes first and execs: it is
    # deleted, then the still sleeping 3
    assert stap_conf("""
        ngx.thread.spawn(function() ngx.sleep(0.05) ngx.exec("/landing") end)
        ngx.thread.spawn(function() ngx.sleep(0.5) end)
    """) == ["create 2 in 1", "spawn user thread 2 in 1", "create 3 in 1",
             "spawn user thread 3 in 1", "terminate 1: ok", "delete thread 1",
             "terminate 2: ok", "delete thread 2", "delete thread 3"]


def test_exec_in_thread_while_entry_captures_t095_T5():
    # the exec fails (pending subrequests): the thread dies ("fail"); the entry's
    # capture returns and it ends normally; both are deleted when the request ends
    assert stap_conf("""
        ngx.thread.spawn(function() ngx.sleep(0.05) ngx.exec("/landing") end)
        ngx.location.capture("/slow")
        ngx.say("end")
    """, headers=[("Content-Length", "1024")]) == [
        "create 2 in 1", "spawn user thread 2 in 1", "terminate 2: fail", "terminate 1: ok",
        "delete thread 2", "delete thread 1"]


def test_exec_in_entry_while_thread_captures_t095_T6():
    # the entry's exec fails (its thread waits on a capture): the entry dies, which
    # aborts the request: the thread is deleted first, then the entry
    assert stap_conf("""
        ngx.thread.spawn(function() ngx.location.capture("/slow") ngx.say("end") end)
        ngx.sleep(0.05)
        ngx.exec("/landing")
    """, headers=[("Content-Length", "1024")]) == [
        "create 2 in 1", "spawn user thread 2 in 1", "terminate 1: fail",
        "delete thread 2", "delete thread 1"]
