"""trace/snapshot.py: snapshots recorded linearly (only what changed per step) and rebuilt
on demand.  The dicts themselves were compared with the former recorder (a full dict per
step) over every scenario when this was written: identical."""
from __future__ import annotations

import ngxcoro
from ngxcoro.nginx import conf as nginx_conf
from ngxcoro.trace import Hooks
from ngxcoro.trace.snapshot import CHECKPOINT, Snapshots, Steps
from ngxcoro.worker import Worker

THREADS = """
local ths = {}
for i = 1, %d do ths[i] = ngx.thread.spawn(function() ngx.sleep(0.001) return i end) end
for i = 1, %d do ngx.thread.wait(ths[i]) end
ngx.say("done")
"""


def _record(n, limit=10**9):
    """A Worker with a Snapshots listener over n waited light threads (as bench's)."""
    hooks = Hooks()
    w = Worker(nginx_conf.load(ngxcoro.lua_location(THREADS % (n, n)), "nginx.conf"), hooks)
    snaps = hooks.add(Snapshots(w, limit=limit))
    calls = []
    where = w.vm.where
    w.vm.where = lambda co: calls.append(co) or where(co)
    w.serve("GET", "/t", "", "HTTP/1.1", [("Host", "localhost"), ("Connection", "close")])
    return snaps, calls


def test_random_access_and_iteration_agree():
    snaps = ngxcoro.run_lua(THREADS % (20, 20), snapshots=True).snapshots
    assert isinstance(snaps, Steps) and len(snaps) > 3 * CHECKPOINT
    whole = list(snaps)
    assert len(whole) == len(snaps)
    for k in (0, 1, CHECKPOINT - 1, CHECKPOINT, CHECKPOINT + 1, len(snaps) - 1):
        assert snaps[k] == whole[k] and snaps[k]["step"] == k
    assert snaps[-1] == whole[-1]
    assert snaps[5:9] == whole[5:9]
    assert snaps == whole


def test_steps_keep_only_what_changed():
    # 100 threads: each step stores the coroutine entries that changed, not all 101;
    # a step changes a few (the one that ran, its parent, one that died), so the
    # entries stored stay a small multiple of the steps, whatever the thread count
    snaps, _ = _record(100)
    stored = sum(len(step[2]) for step in snaps.frames._steps)
    steps = len(snaps.frames)
    assert steps > 2000 and stored < 3 * steps
    # the parts (timers, requests, ...) are shared objects while equal
    timers = [step[1][1] for step in snaps.frames._steps]
    assert len({id(t) for t in timers}) < len(timers) // 4


def test_a_dead_thread_entry_is_not_rebuilt():
    # once t1 has been waited for and deleted, each later snapshot holds the very dict
    # recorded when it last changed: nothing of it is listed again
    snaps = ngxcoro.run_lua(THREADS % (3, 3), snapshots=True).snapshots
    last = snaps[len(snaps) - 1]
    t1 = next(c for c in last["coroutines"] if c["name"] == "t1")
    assert t1["status"] == "dead"
    same = [s for s in snaps if any(c is t1 for c in s["coroutines"])]
    assert len(same) > 10


def test_lua_lines_are_read_only_for_coroutines_that_ran():
    # vm.where (a walk of the Lua stack) runs once per new coroutine and once per
    # step inside or right after a resume, not once per live coroutine per step
    snaps, calls = _record(100)
    steps = len(snaps.frames)
    assert len(calls) < steps


def test_comparing_only_reachable_co_ctxs_misses_nothing():
    # the recorder compares only the co ctxs a change can reach (named by the events,
    # run, waiting on subrequests or sockets, ...): the snapshots are the same as when
    # every co ctx is compared at every step, on scenarios where a co ctx changes late
    # (a dead coroutine's zombie list, a deleted thread brought back, a capture's
    # pending_subreqs, a socket's waiter)
    import pathlib
    from conftest import SCENARIO_DIR
    from ngxcoro import oracle as rn
    for stem in ("305", "404", "406", "413", "713", "936", "938", "940", "002", "141"):
        path = next(pathlib.Path(SCENARIO_DIR).glob(f"{stem}-*.ngx"))
        text = path.read_text(encoding="utf-8")
        info = rn.parse_scenario(text)
        frames = []
        for exhaustive in (False, True):
            orig = Snapshots.__init__.__defaults__
            Snapshots.__init__.__defaults__ = (Snapshots.LIMIT, exhaustive)
            try:
                res = ngxcoro.run(text, info["request"], headers=list(info["headers"]),
                                  body=info["body"], timeout=info["timeout"],
                                  abort_at=info["client_abort_at"], quit_at=info["quit_at"],
                                  peers=info["peers"], snapshots=True)
            finally:
                Snapshots.__init__.__defaults__ = orig
            frames.append([s["coroutines"] for s in res.snapshots])
        assert frames[0] == frames[1], stem



def test_timers_follow_the_loop(monkeypatch):
    # the recorder keeps the timer list up to date from what the loop says it armed,
    # deleted or expired (loop.timer_watchers): at every step it is the list the loop's
    # pending() gives then, and the same object as the step before while unchanged;
    # scenarios that kill a sleeping thread, time out a semaphore wait or a socket
    # read, arm lua timers, quit, and the bench's fan-out of sleeping threads
    import pathlib
    from conftest import SCENARIO_DIR
    from ngxcoro import oracle as rn
    runs = [(ngxcoro.lua_location(THREADS % (30, 30)), {"request": "GET /t"})]
    for stem in ("012", "1191", "1172", "1041", "780", "781", "305"):
        path = next(pathlib.Path(SCENARIO_DIR).glob(f"{stem}-*.ngx"))
        text = path.read_text(encoding="utf-8")
        runs.append((text, rn.parse_scenario(text)))
    init = Worker.__init__

    def watched(w, config, hooks=None, log_level=None):
        # the Worker run() makes: a Snapshots, then a check of the step it just took
        init(w, config, hooks, log_level)
        snaps, seen = hooks.add(Snapshots(w)), []

        def check(event, data):
            if len(snaps.frames) > len(seen):
                timers = snaps.frames._steps[-1][1][1]
                assert timers == [{"label": t.label, "deadline_ms": t.deadline, "kind": t.kind,
                                   "owner": t.owner} for t in w.loop.pending()]
                if seen:                    # shared while equal, new when it changed
                    assert (timers is seen[-1]) == (timers == seen[-1])
                seen.append(timers)
        hooks.add(check)
        checked.append(seen)
    monkeypatch.setattr(Worker, "__init__", watched)
    for text, info in runs:
        checked = []
        ngxcoro.run(text, info["request"], hooks=Hooks(), timeout=info.get("timeout", 3.0),
                    quit_at=info.get("quit_at"), peers=info.get("peers"))
        assert len(checked[0]) > 10 and any(checked[0]), info["request"]
