"""echo-nginx-module's subrequests and request body in the model (nginx/echo.py,
nginx/postpone.py, ngx_http_subrequest in nginx/phases.py).

Real nginx decides the answers: scenarios 1070-1083 are recorded from it and
compared by test_differential.py and test_error_log.py.  The tests here state
what the recordings cannot: the model's refusals, and the state the pictures
show (c->data and r->postponed), with the expected values reasoned from the C
in each test.
"""
from __future__ import annotations

import ngxcoro
from conftest import SCENARIO_DIR


def _scenario(name):
    return (SCENARIO_DIR / f"{name}.ngx").read_text()


def test_echo_directives_not_modelled_are_refused_by_name():
    # any echo directive the model does not run is refused in one line naming it
    for directive in ("echo_foreach_split , a,b;", "echo_reset_timer;", "echo_blocking_sleep 1;",
                      "echo_exec /x;"):
        res = ngxcoro.run(f"location /t {{ {directive} echo y; }} location /x {{ echo x; }}",
                          "GET /t")
        name = directive.split()[0].rstrip(";")
        assert res.refused, directive
        assert f'"{name}"' in res.message and "not modelled" in res.message
        assert "\n" not in res.message


def test_echo_subrequest_file_body_is_refused():
    res = ngxcoro.run("location /t { echo_subrequest POST /s -f /etc/hostname; }\n"
                      "location /s { echo_request_body; }", "GET /t")
    assert res.refused and '"-f"' in res.message


def test_postponed_list_and_c_data_in_snapshots():
    """Scenario 1071: /t makes three async subrequests, then says a line and
    ends.  ngx_http_subrequest gives c->data to the first (/t held it with
    nothing postponed), and appends each to /t's postponed list; /t's own
    output (its line, and its last buf) is then held behind them by the
    postpone filter, as one output entry.  So once /t's handler is done:
    /t postponed = 3 subrequests + its held bytes ("parent after the three\\n"
    is 23 bytes), and the first /wait is c->data."""
    res = ngxcoro.run(_scenario("1071-echo-location-async-order"), "GET /t", snapshots=True)
    snap = next(s for s in res.snapshots
                if s["event"] == "finalize_request" and s["data"]["uri"] == "/t?")
    top, first, second, quick = snap["requests"]
    assert top["postponed"] == ["subrequest /wait", "subrequest /wait", "subrequest /quick",
                                "23 bytes held"]
    assert first["active"] and not top["active"] and not second["active"]
    # at the end every list is empty and the answer is in the order the subrequests were made
    assert all(not r["postponed"] for r in res.snapshots[-1]["requests"])
    assert res.body == "waited 250\nwaited 150\nquick\nparent after the three\n"


def test_lua_entry_threads_in_echo_subrequests_stap():
    """Scenario 1074: echo_location runs /lua_wait, then echo_location_async
    /lua_two; each is a content_by_lua entry thread, which the GC script
    (t/StapThread.pm) never reports as created (only user threads and
    coroutines are), and which ends normally ("terminate 1: ok") and is
    deleted.  The two run one after the other (the first is waited for), so
    the second reuses the thread the first left in lua's thread cache: the
    same lua_State, so the same id 1."""
    res = ngxcoro.run(_scenario("1074-echo-location-lua-targets"), "GET /t")
    assert res.stap == ["terminate 1: ok", "delete thread 1",
                        "terminate 1: ok", "delete thread 1"]


def test_echo_location_inside_a_capture_is_refused():
    """Real nginx (tried on this machine): ngx.location.capture of a location that
    does echo_location spins in the worker (a GET capture) or loses the output and
    hangs (a capture with a body); the model refuses it in one line."""
    res = ngxcoro.run('location /t { content_by_lua_block { ngx.location.capture("/e") } }\n'
                      "location /e { echo_location /s; }\nlocation /s { echo s; }", "GET /t")
    assert res.refused and "ngx.location.capture" in res.message and "\n" not in res.message


def test_light_threads_in_two_echo_subrequests_stap():
    """Scenario 1086: echo_location_async starts /lua_thread, and echo_location at once
    starts a second one (the async one is not waited for).  Each entry thread spawns a
    light thread that sleeps 60 ms and waits on it: "create 2 in 1" / "spawn user thread
    2 in 1" for the first, "create 4 in 3" / "spawn user thread 4 in 3" for the second
    (both entry threads are alive at once, so no cached thread is reused: four ids).
    The first sleep was armed first, so it fires first: thread 2 ends and is deleted,
    then its entry thread 1 (back from ngx.thread.wait); then 4, then 3.  Lua's output
    bypasses the postpone filter (ngx_http_lua_output_filter makes its request c->data
    for the call), so the lines go out in the order they are said, as the recording
    from real nginx shows: both entry lines, then both thread lines, then echo's."""
    res = ngxcoro.run(_scenario("1086-echo-location-lua-light-threads"), "GET /t")
    assert res.stap == ["create 2 in 1", "spawn user thread 2 in 1",
                        "create 4 in 3", "spawn user thread 4 in 3",
                        "terminate 2: ok", "delete thread 2", "terminate 1: ok", "delete thread 1",
                        "terminate 4: ok", "delete thread 4", "terminate 3: ok", "delete thread 3"]
    assert res.body == ("entry of first\nentry of second=1\n"
                        "thread of first\nthread of second=1\ndone\n")
