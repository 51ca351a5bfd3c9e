"""ngx.semaphore and the event-loop turn it depends on.

What real nginx answers is in the recorded scenarios 550-577 (test_differential.py,
test_error_log.py).  Here: the loop's turn order on its own (src/event/ngx_event.c
ngx_process_events_and_timers, reasoned below), and what the stepper and the graph get
for a semaphore (plain data, a box per semaphore)."""
from __future__ import annotations

import json

import ngxcoro
from ngxcoro.nginx.loop import Event, Loop
from ngxcoro.oracle import SCENARIO_DIR


def test_turn_timers_then_posted_events():
    """A turn: I/O ready at its start, every due timer (the clock stands still, so
    a 0 ms timer armed by a handler of this step is due too), then the posted
    events FIFO, with those posted while they run; I/O readied meanwhile waits
    for the next turn."""
    loop, seen = Loop(), []
    ev = Event(lambda: seen.append("posted"))
    again = Event(lambda: seen.append("posted again"))

    def first_timer():
        seen.append("timer 10")
        loop.post_event(ev)
        loop.post_event(ev)                      # already posted: stays where it is
        loop.post(lambda: seen.append("io"))     # ready for the next turn
        loop.add_timer(0, lambda: seen.append("timer 0 from the step"))

    ev.handler = lambda: (seen.append("posted"), loop.post_event(again))
    loop.add_timer(10, first_timer)
    loop.add_timer(20, lambda: seen.append("timer 20"))
    while loop.run_once():
        pass
    assert seen == ["timer 10", "timer 0 from the step", "posted", "posted again", "io",
                    "timer 20"]
    assert loop.now_ms == 20


def test_delete_posted_event():
    loop, seen = Loop(), []
    ev = Event(lambda: seen.append("x"))
    loop.post_event(ev)
    loop.delete_posted_event(ev)
    assert not ev.posted and not loop.run_once() and seen == []


def _run(name):
    path = next(SCENARIO_DIR.glob(f"{name}-*.ngx"))
    return ngxcoro.run(path.read_text(encoding="utf-8"), "GET /t", snapshots=True)


def test_snapshots_carry_semaphores():
    """550: three waiters, post(2) -> the event is posted, resources 2, nobody
    woken yet; the handler hands the two resources to t1 then t2."""
    snaps = _run("550").snapshots
    json.dumps(list(snaps))                      # plain data (Steps builds each on demand)
    post = next(s for s in snaps if s["event"] == "post_event")
    assert post["semaphores"] == [{"name": "sema1", "resources": 2, "wait_queue": ["t1", "t2", "t3"],
                                   "count": -1, "event_posted": True}]
    assert post["posted_events"] == ["sema1"]
    wakes = [s for s in snaps if s["event"] == "sema_wake"]
    assert [s["data"]["co"] for s in wakes] == ["t1", "t2"]
    assert wakes[-1]["semaphores"][0]["wait_queue"] == ["t3"]
    assert not wakes[-1]["semaphores"][0]["event_posted"]     # deleted before its handler runs
    assert wakes[0]["where"]["c_function"] == "ngx_http_lua_sema_handler"


def test_graph_draws_each_semaphore():
    from ngxcoro.viz import graph
    snaps = _run("576").snapshots
    frames = graph.frames_dot(snaps)
    assert all("sem_sema1" in f and "sem_sema2" in f for f in frames)
    i = next(s["step"] for s in snaps if s["event"] == "post_event")
    assert "event posted" in frames[i] and "waits #1" in frames[i]


def test_c_int_as_the_ffi_passes_numbers():
    """A Lua number given to ngx_http_lua_ffi_sema_* as an `int`: truncated
    toward zero; out of range, NaN or infinite it is INT_MIN (scenario 702's
    recording: new(5e9), new(1/0), new(0/0) and post(2^33 + 1) all log
    -2147483648; post(2.999) adds 2).  The resource count wraps like a C int
    (702: INT_MAX + 3 gives -2147483646)."""
    from ngxcoro.ngx_lua.semaphore import INT_MIN, c_int, int_add
    assert [c_int(x) for x in (2.999, -0.5, 0.00099 * 1000, 2147483647.9)] == [2, 0, 0, 2147483647]
    assert [c_int(x) for x in (5e9, 2**33 + 1, float("inf"), float("-inf"), float("nan"),
                               -2147483649.0)] == [INT_MIN] * 6
    assert int_add(2147483647, 3) == -2147483646
    assert int_add(INT_MIN, -1) == 2147483647
