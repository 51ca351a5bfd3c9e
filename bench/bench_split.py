"""Benchmark: where an untraced run's time goes, Lua side against Python side.

    python3 bench/bench_split.py [--workload threads|yields] [--sizes N,N,N] [--no-nginx]

Prints figures; it is not a test.  For one workload of bench_scheduler.py (the
same Lua), with ngxcoro.run(..., trace=False), at three sizes, each figure in µs
per unit and as a ratio to real nginx measured in the same run:

  model      the whole run, by CPU time (best of --repeat, as bench_scheduler --cpu)
  lua        the time spent inside calls into Lua (lupa: LuaJIT running the shims,
             the user's Lua, lupa's conversions both ways), minus the Python those
             calls made back (the P functions); the timing wrappers' own cost,
             measured on a no-op, is taken off
  gc         of `lua`, LuaJIT's collector: the run again with
             collectgarbage("stop"), the difference
  python     model - lua: the scheduler, the loop, the P functions
  calls      per unit: calls into Lua (K), calls back into Python (P), and
             Python function calls of ngxcoro's own code (sys.setprofile)

and two references from this machine: one lupa crossing each way, and the same
coroutines switched by a bare Lua loop in the same LuaJIT (jit.off, as the
model runs it), the least any Lua-hosted model could spend on them.

The point of the split: a ratio the Lua side alone already exceeds cannot be
reached by making the Python side faster.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import bench_scheduler as bs                       # noqa: E402
import ngxcoro                                     # noqa: E402

# the same coroutines with no scheduler: what any model hosted on this LuaJIT pays
BARE = {
    "threads": """return function(n)
  local ths, parked, done = {}, {}, 0
  for i = 1, n do                            -- spawn: the child runs first, to its sleep
    local co = coroutine.create(function() coroutine.yield() return i end)
    coroutine.resume(co)
    ths[i] = co
  end
  for i = 1, n do                            -- the timers fire: each child ends
    local ok, v = coroutine.resume(ths[i])
    if ok and v == i then done = done + 1 end
  end
  return done
end""",
    "yields": """return function(n)
  local done = 0
  for i = 1, n do
    for v in coroutine.wrap(function() for j = 1, 10 do coroutine.yield(j) end end) do
      done = done + 1
    end
  end
  return done
end""",
}


def child(workload, n, repeat):
    """In a fresh process: the model's figures for one size, as JSON."""
    from ngxcoro import worker as W
    from ngxcoro.ngx_lua import vm as V
    text = bs.conf_for(workload, n)
    ngxcoro.run(bs.WARM_UP, "GET /t")
    clock = time.perf_counter

    def best(run):
        return min(run() for _ in range(repeat))

    def plain():
        t = time.process_time()
        res = ngxcoro.run(text, "GET /t", trace=False)
        s = time.process_time() - t
        bs.check(workload, n, res.status, res.body + (res.message or ""))
        return s

    model = best(plain)

    # LuaJIT's collector: the same run with it stopped
    orig_init = V.LuaVM.__init__
    V.LuaVM.__init__ = lambda self, *a, **k: (orig_init(self, *a, **k),
                                              self.rt.execute(b"collectgarbage('stop')"))[0]
    no_gc = best(plain)
    V.LuaVM.__init__ = orig_init

    # the Lua side: every call into Lua timed, minus the P calls it made back
    acc = {"lua": 0.0, "cb": 0.0, "k": 0, "p": 0}
    orig_guard = W.Worker.guard

    def guard(self, f, name=""):
        g = orig_guard(self, f, name)

        def timed_p(*a):
            t = clock()
            acc["p"] += 1
            try:
                return g(*a)
            finally:
                acc["cb"] += clock() - t
        return timed_p

    def timed(f):
        def timed_k(*a):
            t, cb = clock(), acc["cb"]
            acc["k"] += 1
            try:
                return f(*a)
            finally:
                acc["lua"] += clock() - t - (acc["cb"] - cb)
        return timed_k

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        for name, f in list(vars(self).items()):
            if type(f).__name__ == "_LuaFunction":          # the K functions
                setattr(self, name, timed(f))
    W.Worker.guard, V.LuaVM.__init__ = guard, init

    # what a timing wrapper adds, measured around a Python no-op: taken off each call
    noop = timed(lambda *a: None)
    for _ in range(2):                                      # the first round warms up
        acc["lua"] = 0.0
        for _ in range(100_000):
            noop(1, 2, 0)
    overhead = acc["lua"] / 100_000
    lua = []
    for _ in range(repeat):
        acc.update(lua=0.0, cb=0.0, k=0, p=0)
        plain()
        lua.append(acc["lua"] - acc["k"] * overhead)
    k_calls, p_calls = acc["k"], acc["p"]
    W.Worker.guard, V.LuaVM.__init__ = orig_guard, orig_init

    # Python calls of ngxcoro's own functions
    pkg = os.path.dirname(ngxcoro.__file__)
    calls = [0]

    def prof(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(pkg):
            calls[0] += 1
    sys.setprofile(prof)
    plain()
    sys.setprofile(None)
    print(json.dumps({"model": model, "no_gc": no_gc, "lua": min(lua), "k": k_calls,
                      "p": p_calls, "py_calls": calls[0]}))


def crossings(n=200_000):
    """µs of one call Python -> Lua (3 numbers in, 3 out) and Lua -> Python (2 in, a 1-tuple out)."""
    import lupa.luajit21 as luajit
    rt = luajit.LuaRuntime(register_eval=False, register_builtins=False,
                           unpack_returned_tuples=True, encoding=None)
    rt.execute(b"jit.off()")
    f = rt.eval(b"function(a, b, c) return 1, 2, nil end")
    t = time.process_time()
    for _ in range(n):
        f(1, 2, 0)
    into = (time.process_time() - t) / n * 1e6
    loop = rt.eval(b"function(cb, n) for i = 1, n do cb(i, 2) end end")
    t = time.process_time()
    loop(lambda a, b: (1,), n)
    back = (time.process_time() - t) / n * 1e6
    return into, back


def empty_call(n=1_000_000):
    """µs of one call of an empty Python function of three arguments (the loop taken off)."""
    def f(a, b, c):
        return None
    t = time.process_time()
    for i in range(n):
        pass
    loop = time.process_time() - t
    t = time.process_time()
    for i in range(n):
        f(i, 2, 0)
    return max(0.0, time.process_time() - t - loop) / n * 1e6


def bare(workload, n, repeat):
    """µs per unit of the same coroutines switched by a bare Lua loop (jit.off)."""
    import lupa.luajit21 as luajit
    rt = luajit.LuaRuntime(register_eval=False, register_builtins=False, encoding=None)
    rt.execute(b"jit.off()")
    f = rt.execute(BARE[workload].encode())
    best = None
    for _ in range(repeat):
        rt.execute(b"collectgarbage()")
        t = time.process_time()
        done = f(n)
        s = time.process_time() - t
        assert done == n * bs.UNITS_PER_N[workload], done
        best = s if best is None else min(best, s)
    return best * 1e6 / (n * bs.UNITS_PER_N[workload])


def main():
    ap = argparse.ArgumentParser(description="ngxcoro, untraced: Lua side against Python side.")
    ap.add_argument("--workload", choices=("threads", "yields"), default="threads")
    ap.add_argument("--sizes", help="three sizes, e.g. 1000,3000,10000 (bench_scheduler's)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, the best kept (3)")
    ap.add_argument("--no-nginx", action="store_true", help="model only (no ratios)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), int(a.child[2]))
        return
    w = a.workload
    sizes = [int(x) for x in a.sizes.split(",")] if a.sizes else bs.SIZES[w]
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"figures: µs per unit (CPU time), best of {a.repeat}; x = the ratio to nginx")
    into, back = crossings()
    call = empty_call()
    print(f"one lupa crossing: Python -> Lua {into:.3f} µs, Lua -> Python {back:.3f} µs; "
          f"one empty Python call {call:.3f} µs")
    print(f"\n== {w}: {bs.TITLE[w]}")
    print(f"{'n':>7} | {'nginx':>6} | {'model':>12} | {'lua':>12} | {'of it gc':>8} | "
          f"{'python':>12} | {'bare Lua':>11} | calls per unit: K P py")
    last = None
    for n in sizes:
        units = n * bs.UNITS_PER_N[w]
        ng = None if a.no_nginx else min(
            bs.nginx_run(w, n, "error") for _ in range(a.repeat)) * 1e6 / units
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", w, str(n),
                            str(a.repeat)], capture_output=True, text=True)
        if p.returncode:
            print(f"{n:>7} | the model's run failed: {p.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(p.stdout.splitlines()[-1])
        us = {k: r[k] * 1e6 / units for k in ("model", "no_gc", "lua")}
        us["python"] = us["model"] - us["lua"]
        us["gc"] = max(0.0, us["model"] - us["no_gc"])
        us["bare"] = bare(w, n, a.repeat)

        def cell(v, width=12):
            x = f" {v / ng:5.1f}x" if ng else ""
            return f"{v:{width - len(x)}.2f}{x}"
        print(f"{n:>7} | {bs.fmt(ng, 6, 3)} | {cell(us['model'])} | {cell(us['lua'])} | "
              f"{us['gc']:8.2f} | {cell(us['python'])} | {cell(us['bare'], 11)} | "
              f"{r['k'] / units:.1f} {r['p'] / units:.1f} {r['py_calls'] / units:.0f}",
              flush=True)
        last = n, ng, us, r["k"] / units, r["p"] / units, r["py_calls"] / units
    if last and last[1] and w == "threads":
        budget(last, into, back, call)


def budget(last, into, back, call):
    """What 5x of nginx leaves for the Python side of `threads` once the Lua side is
    at its least: a call into Lua per resume (a light thread is resumed 4 times: the
    parent after spawn and after wait, the child at its start and after its sleep),
    a call back per API call, no stack calls (lua_gettop, lua_xmove), no bookkeeping."""
    n, ng, us, k, p, py = last
    at5 = 5 * ng
    resumes = 4
    least = resumes * into + p * back
    left = at5 - least - us["bare"]
    print(f"\nat 5x nginx (n={n}): {at5:.2f} µs per unit.  The model's Lua side alone: "
          f"{us['lua']:.2f} µs ({us['lua'] / ng:.1f}x).")
    print(f"Even with a Lua side at its least ({resumes} calls into Lua and {p:.0f} back: "
          f"{least:.2f} µs; the bare switches: {us['bare']:.2f} µs), {max(left, 0):.2f} µs "
          f"are left for {py:.0f} Python calls: {max(left, 0) / py:.3f} µs each, where an "
          f"empty call costs {call:.3f} µs.")


if __name__ == "__main__":
    main()
