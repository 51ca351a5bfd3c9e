"""Bounded runs: programs that never end on their own still answer, in bounded memory.

Each program runs in its own Python process (a generous subprocess timeout is the only
guard on wall time here; the process reports its own peak RSS). What real nginx does
with them was found with the oracle: a light thread that sleeps forever keeps the
request open until the client gives up (scenarios 320-323); a spawn loop spins the
worker in Lua (ref counts in the millions within seconds, SIGQUIT and SIGTERM unheard,
the client gives up with nothing): `hung`, and no status.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import inspect

import pytest

import ngxcoro
from ngxcoro.oracle import parse_scenario, run_real
from ngxcoro.trace.snapshot import Snapshots

ROOT = pathlib.Path(__file__).resolve().parent.parent

FOREVER = {
    "thread sleeps forever": "ngx.thread.spawn(function() while true do ngx.sleep(1) end end)",
    "spawn forever": "while true do ngx.thread.spawn(function() end) end",
    "spawn and wait forever": ("while true do local t = ngx.thread.spawn(function() end) "
                               "ngx.thread.wait(t) end"),
    "sleep(0) forever": "while true do ngx.sleep(0) end",
    "coroutines forever": "while true do coroutine.resume(coroutine.create(function() end)) end",
}

CHILD = r"""
import json, resource, sys
import ngxcoro
import ngxcoro.worker
args = json.loads(sys.argv[1])
if args.get("wall"):
    ngxcoro.worker.RUN_WALL_LIMIT = args["wall"]
res = ngxcoro.run_lua(args["lua"], snapshots=args["snapshots"])
out = res.to_json()
out["nsnapshots"] = len(res.snapshots)
# the peak of this process's own memory: /proc's VmHWM (getrusage's ru_maxrss keeps
# the parent's peak across fork + exec on Linux, and a test worker can be big)
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    out["maxrss_mb"] = int(hwm.split()[1]) / 1024
except (OSError, IndexError):
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def child(lua, snapshots=False, wall=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    arg = json.dumps({"lua": lua, "snapshots": snapshots, "wall": wall})
    out = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True,
                         env=env, timeout=180)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("snapshots", [False, True], ids=["plain", "snapshots"])
@pytest.mark.parametrize("name", FOREVER)
def test_forever_programs_answer_hung_in_bounded_memory(name, snapshots):
    res = child(FOREVER[name], snapshots)
    # the client's timeout is nginx's answer (hung); any other bound is ngxcoro's own
    horizon = name == "thread sleeps forever"
    assert res["status"] is None and res["hung"] is horizon and res["refused"] is not horizon
    assert res["message"].startswith("stopped ") and "\n" not in res["message"]
    assert res["maxrss_mb"] < 500, res["maxrss_mb"]
    assert len(res["events"]) <= 20_000 and len(res["stap"]) <= 20_000
    assert res["nsnapshots"] <= Snapshots.LIMIT
    if snapshots and name != "thread sleeps forever":
        assert any(n.startswith(f"steps: only the first {Snapshots.LIMIT:,}") for n in res["notes"])


def test_the_spawn_loop_names_its_zombies():
    # counted after every 1,000 made, then every tenth: 21,433 when the count first passes
    res = child(FOREVER["spawn forever"])
    assert res["message"].startswith("stopped by ngxcoro at 21,433 live coroutines (21,432 of them "
                                     "zombies nobody waits for; the limit is 20,000), at 0 s: "
                                     "entry keeps making them")
    assert "its memory growing" in res["message"]


def test_dead_coroutines_count_toward_the_run_s_total():
    # the bound under test is the count, not the 15 s wall-clock guard (a loaded machine
    # makes 150,000 spawn-and-waits take longer than that): the guard is moved out of the way
    res = child(FOREVER["spawn and wait forever"], wall=120)
    assert res["message"].startswith("stopped by ngxcoro at 150,000 coroutines made in one run")


def test_a_legitimate_crowd_of_coroutines_is_untouched():
    # 100,000 short-lived coroutines (bench/bench_scheduler.py's largest `yields`) end normally
    res = ngxcoro.run_lua("local n = 0 for i = 1, 100000 do "
                          "coroutine.wrap(function() n = n + 1 end)() end ngx.say(n)")
    assert (res.status, res.body, res.refused) == (200, "100000\n", False)


def test_time_that_never_moves_is_bounded_by_events():
    res = child(FOREVER["sleep(0) forever"])
    assert res["message"].startswith("stopped by ngxcoro after 100,000 events at 0 s without the "
                                     "clock moving on")
    assert "entry (running; ngx.sleep(0): re-arms a 0 s timer forever" in res["message"]


def test_the_wall_clock_guard_is_the_last_resort():
    # slow work between short sleeps: no other bound stops it before the guard (here 0.5 s)
    res = child("while true do for i = 1, 2e5 do end ngx.sleep(0.001) end", wall=0.5)
    assert res["refused"] is True and res["hung"] is False and res["status"] is None
    assert "ngxcoro's last-resort guard after 0.5 s of wall-clock time" in res["message"]
    assert "alive: entry (running; " in res["message"]


def test_the_model_and_the_oracle_share_the_client_timeout():
    assert ngxcoro.CLIENT_TIMEOUT == 3.0
    assert inspect.signature(run_real).parameters["timeout"].default == ngxcoro.CLIENT_TIMEOUT
    assert parse_scenario("location /t {}\n")["timeout"] == ngxcoro.CLIENT_TIMEOUT
    assert inspect.signature(ngxcoro.run).parameters["timeout"].default == ngxcoro.CLIENT_TIMEOUT


def test_a_request_that_ends_before_the_horizon_is_untouched():
    lua = "ngx.sleep(2.9) ngx.say('late but in time')"
    res = ngxcoro.run_lua(lua)
    assert (res.status, res.body, res.hung, res.message) == (200, "late but in time\n", False, None)
    res = ngxcoro.run_lua(lua, timeout=2.9)              # due at the horizon: the client is gone
    assert res.hung and res.status is None
    assert "entry (running; ngx.sleep(2.9), due at 2.9 s)" in res.message
    assert ngxcoro.run_lua(lua, timeout=None).status == 200


def test_an_entry_thread_waiting_forever_says_on_whom():
    res = ngxcoro.run_lua("local t = ngx.thread.spawn(function() while true do ngx.sleep(0.5) end end)"
                          " ngx.thread.wait(t)", timeout=2)
    assert ("alive: entry (running; waits on t1 (ngx.thread.wait)), t1 (running; ngx.sleep(0.5): "
            "re-arms a 0.5 s timer forever, armed 4 times, next due at 2 s)") in res.message


def test_the_event_ring_keeps_the_last_events():
    from ngxcoro.trace import EventLog
    from ngxcoro.nginx.loop import Loop
    log = EventLog(Loop(), limit=3)
    for i in range(5):
        log("finalize_threads", {})
    assert len(log.events) == 3 and log.seen == 5
    assert log.note() == "events: only the last 3 of 5 are kept"
