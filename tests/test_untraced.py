"""trace=False gives the answer the traced run gives (issue 14, items 1 and 2).

With nothing observing the run, the worker fires nothing and plain coroutines switch
inside Lua (ngxcoro/ngx_lua/lua/vm.lua, the fast path); with a listener, every switch
goes through run_thread in Python, and that is the run the differential and fuzz suites
compare with real nginx. So each scenario and each fuzz program is run both ways, at
log level `error` (the debug log is an observer: it turns the fast path off), and the
answers must be the same: status, body, error log, hung, startup error, message,
refused. Runs without nginx.
"""
from __future__ import annotations

import json
import pathlib

import pytest

import ngxcoro
from conftest import SCENARIO_DIR
from ngxcoro import oracle as rn

SCENARIOS = sorted(SCENARIO_DIR.glob("*.ngx"))
CORPUS = pathlib.Path(__file__).resolve().parent / "fuzz" / "corpus.jsonl"
ENTRIES = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
FIELDS = ("status", "body", "error_log", "hung", "startup_error", "message", "refused")


def answer(text, trace):
    info = rn.parse_scenario(text)
    try:
        res = ngxcoro.run(text, info["request"], headers=list(info["headers"]),
                          body=info["body"], log_level="error", timeout=info["timeout"],
                          abort_at=info["client_abort_at"], quit_at=info["quit_at"],
                          trace=trace)
    except Exception as e:  # noqa: BLE001 - compared, both ways
        return {"crash": f"{type(e).__name__}: {e}"}
    return {f: getattr(res, f) for f in FIELDS}


def check(text):
    traced, untraced = answer(text, True), answer(text, False)
    assert untraced == traced


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_untraced_same_answer(path):
    check(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"seed{e['seed']}" for e in ENTRIES])
def test_fuzz_untraced_same_answer(entry):
    check(entry["text"])


def test_untraced_records_nothing():
    """No listener at all: no stap lines, no events, no snapshots."""
    res = ngxcoro.run_lua("""
        local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        ngx.say(co(), co(), co())""", trace=False)
    assert (res.status, res.body) == (200, "123\n")
    assert res.stap == [] and res.events == [] and res.snapshots == []
    with pytest.raises(ValueError):
        ngxcoro.run_lua("ngx.say(1)", trace=False, snapshots=True)


# Programs that leave the fast path in each way it has (vm.lua fast_after): an API that
# yields to run_thread, a light thread, an error (resume's false, wrap's propagation), a
# runaway loop, ngx.exit, and the states coroutine.status and a second resume see.
FAST_PATH_EDGES = {
    "nested": """
        local function gen(n) return coroutine.wrap(function()
            for i = 1, n do coroutine.yield(i) end end) end
        local outer = coroutine.wrap(function()
            for v in gen(3) do coroutine.yield(v * 10) end
            for v in gen(2) do coroutine.yield(v * 100) end
        end)
        for v in outer do ngx.say(v) end""",
    "sleep_in_child": """
        local a
        a = coroutine.create(function(x)
            local b = coroutine.create(function(y)
                ngx.sleep(0.05)
                local z = coroutine.yield(y + 1)
                ngx.say("b got ", z, " ", coroutine.status(a))
                return "b done"
            end)
            local ok, v = coroutine.resume(b, x)
            ngx.say("a: ", ok, " ", v, " ", coroutine.status(b))
            local w = coroutine.yield(v * 2)
            ngx.say("a: ", coroutine.resume(b, w))
            ngx.say("a: ", coroutine.resume(b))
            return "a done"
        end)
        ngx.say(coroutine.resume(a, 1))
        ngx.say(coroutine.status(a))
        ngx.say(coroutine.resume(a, 7))
        ngx.say(coroutine.status(a), " ", coroutine.resume(a))""",
    "spawn_in_child": """
        local co = coroutine.wrap(function()
            local t = ngx.thread.spawn(function() ngx.say("thread") ngx.sleep(0.05) return 5 end)
            coroutine.yield(1)
            ngx.say("waited ", select(2, ngx.thread.wait(t)))
            coroutine.yield(2)
        end)
        ngx.say(co()) ngx.say(co())""",
    "error_resume": """
        local co = coroutine.create(function() coroutine.yield(1) error("boom") end)
        ngx.say(coroutine.resume(co)) ngx.say(coroutine.resume(co))
        ngx.say(coroutine.status(co), " ", coroutine.resume(co))
        local c2 = coroutine.create(function() error({}) end)
        ngx.say(coroutine.resume(c2))
        local c3 = coroutine.create(function() local t = nil; return t.x end)
        ngx.say(coroutine.resume(c3))""",
    "error_wrap": """
        local f = coroutine.wrap(function() coroutine.yield(1)
            local g = coroutine.wrap(function() error("deep") end)
            g() end)
        ngx.say(f())
        ngx.say(pcall(f))
        ngx.say(pcall(f))""",
    "error_wrap_unprotected": """
        local f = coroutine.wrap(function() coroutine.yield(1) error("boom") end)
        ngx.say(f()) ngx.flush(true)
        f()""",
    "self_and_parent": """
        local me
        local co
        co = coroutine.create(function()
            ngx.say(coroutine.resume(co))
            ngx.say(coroutine.status(co))
            local inner = coroutine.create(function() return coroutine.resume(co) end)
            ngx.say(coroutine.resume(inner))
            coroutine.yield()
        end)
        ngx.say(coroutine.resume(co)) ngx.say(coroutine.status(co))""",
    "exit_in_child": """
        local co = coroutine.wrap(function() coroutine.yield(1) ngx.say("bye") ngx.exit(200) end)
        co() co() ngx.say("never")""",
    "runaway_in_child": """
        local co = coroutine.wrap(function() coroutine.yield(1) while true do end end)
        co() co()""",
    "overflow_in_child": """
        local function f(n) return f(n + 1) + 1 end
        local co = coroutine.create(function() coroutine.yield() f(1) end)
        coroutine.resume(co)
        local ok, err = coroutine.resume(co)
        ngx.say(ok, " ", err)""",
    "shared_between": """
        local gen = coroutine.create(function() for i = 1, 4 do coroutine.yield(i) end end)
        local a = coroutine.wrap(function() while true do coroutine.yield(select(2, coroutine.resume(gen))) end end)
        local b = coroutine.wrap(function() while true do coroutine.yield(select(2, coroutine.resume(gen))) end end)
        ngx.say(a(), b(), a(), b(), " ", coroutine.status(gen))""",
    "yield_in_entry": """
        ngx.say(coroutine.running() ~= nil)
        local co = coroutine.wrap(function(...) ngx.say(select("#", ...)) return ... end)
        ngx.say(co(1, nil, 3, nil))
        coroutine.yield()
        ngx.say("after")""",
    "dead_wrap": """
        local f = coroutine.wrap(function() return 1 end)
        ngx.say(f()) ngx.say(pcall(f))""",
    "timer": """
        local co = coroutine.create(function() coroutine.yield(1) return 2 end)
        ngx.timer.at(0.05, function()
            local c2 = coroutine.wrap(function() coroutine.yield("t1") coroutine.yield("t2") end)
            ngx.log(ngx.ERR, c2(), c2(), " ", coroutine.status(c2 and co))
        end)
        ngx.say(coroutine.resume(co))
        ngx.sleep(0.1)""",
    # a timer resumes a coroutine the request made: another request, never the fast path
    "timer_cross": """
        local co = coroutine.wrap(function() coroutine.yield(1) coroutine.yield(2) end)
        co()
        ngx.timer.at(0.05, function() ngx.log(ngx.ERR, "got ", co()) end)
        ngx.sleep(0.1)
        ngx.say("done")""",
    # a chain of 300 coroutines, each resuming the next: nginx nests no C calls here
    "deep_chain": """
        local function chain(k)
            if k == 0 then coroutine.yield("bottom") return "up" end
            local inner = coroutine.wrap(chain)
            local a = inner(k - 1)
            local b = inner()
            coroutine.yield(a)
            return b
        end
        local top = coroutine.wrap(chain)
        ngx.say(top(300), " ", top())""",
}


@pytest.mark.parametrize("name", sorted(FAST_PATH_EDGES))
def test_fast_path_edges_same_answer(name):
    check(ngxcoro.lua_location(FAST_PATH_EDGES[name]))
