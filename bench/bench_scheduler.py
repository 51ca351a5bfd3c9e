"""Benchmark: the same Lua on real nginx and on the ngxcoro model.

    python3 bench/bench_scheduler.py [--quick] [--no-nginx] [--repeat N]

Prints figures; it is not a test.  Two workloads, each at three sizes:

  threads  N light threads that each ngx.sleep(0.001); the entry thread
           ngx.thread.wait()s on each of them          -> µs per light thread
  yields   N coroutine.wrap coroutines that each yield 10 values, all
           consumed by a for-in loop                   -> µs per yield

Real nginx: ngxcoro.oracle.run_real; the work is timed inside Lua
(ngx.update_time(); ngx.now(), 1 ms resolution), so start-up is excluded.
The timers of the `threads` workload are all armed within the same
millisecond, so its nginx figure contains one real 1 ms wait (one wave).
The runner logs at `debug` for the differential tests; that costs nginx a
write() per debug line (15x slower on `yields`, and a 400 MB log at full
size), so the benchmark runs nginx at --nginx-log-level (default `error`).

Model: time.perf_counter() around config load + the whole request (virtual
time is instant), nothing subtracted.  "off" = Worker(conf, Hooks()) with no
listener; "on" = ngxcoro.run(), which attaches StapTrace and EventLog.  Each
model run is a fresh Python process, so its peak RSS (VmHWM, which counts
LuaJIT's memory too) belongs to that run alone; a run that takes longer than
--budget seconds is stopped and reported as such.  Figures are medians of
--repeat runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ngxcoro                                     # noqa: E402
from ngxcoro import oracle                         # noqa: E402
from ngxcoro.oracle import conf as oracle_conf     # noqa: E402
from ngxcoro.nginx import conf as nginx_conf       # noqa: E402
from ngxcoro.trace import Hooks                    # noqa: E402
from ngxcoro.worker import Worker                  # noqa: E402

TEMPLATE = """\
location = /t {{
    content_by_lua_block {{
        local n, done = {n}, 0
        ngx.update_time()
        local t0 = ngx.now()
{work}
        ngx.update_time()
        ngx.say(string.format("%.3f %d", ngx.now() - t0, done))
    }}
}}
"""
WORK = {
    "threads": """\
        local ths = {}
        for i = 1, n do ths[i] = ngx.thread.spawn(function() ngx.sleep(0.001) return i end) end
        for i = 1, n do
            local ok, v = ngx.thread.wait(ths[i])
            if ok and v == i then done = done + 1 end
        end""",
    "yields": """\
        for i = 1, n do
            for v in coroutine.wrap(function() for j = 1, 10 do coroutine.yield(j) end end) do
                done = done + 1
            end
        end""",
}
UNITS_PER_N = {"threads": 1, "yields": 10}          # light threads / yields per unit of n
TITLE = {"threads": "light threads: spawn, ngx.sleep(0.001), ngx.thread.wait   [µs per light thread]",
         "yields": "coroutine.wrap, 10 yields each, all consumed   [µs per yield]"}
SIZES = {"threads": (1_000, 3_000, 10_000), "yields": (10_000, 30_000, 100_000)}
QUICK = {"threads": (300, 1_000, 3_000), "yields": (1_000, 3_000, 10_000)}


def conf_for(workload, n):
    return TEMPLATE.format(n=n, work=WORK[workload])


def check(workload, n, status, body):
    """The body is "<seconds> <units done>"; anything else is a failed run."""
    parts = body.split()
    if status != 200 or len(parts) != 2 or int(parts[1]) != n * UNITS_PER_N[workload]:
        raise RuntimeError(f"{workload} n={n}: status {status}, body {body!r}")
    return float(parts[0])


# ------------------------------------------------------------------ model
def peak_rss_mb():
    """This process's peak RSS: VmHWM (ru_maxrss would keep the parent's peak across exec)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_child(workload, n, tracing):
    """Runs in a fresh process: one request, prints {"s": seconds, ...} as JSON."""
    text = conf_for(workload, n)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    if tracing:
        res = ngxcoro.run(text, "GET /t")
        status, body, extra = res.status, res.body, res.message
    else:
        method, uri, args, version = ngxcoro.parse_request("GET /t")
        w = Worker(nginx_conf.load(text, "nginx.conf"), Hooks())      # nobody listens
        r = w.serve(method, uri, args, version, [("Host", "localhost"), ("Connection", "close")])
        wire = r.connection.wire if hasattr(r.connection, "wire") else w.wire
        status, body, extra = wire.status, bytes(wire.body).decode(), None
    s = time.perf_counter() - t
    check(workload, n, status, body + (extra or ""))
    print(json.dumps({"s": s, "rss0_mb": rss0, "rss_mb": peak_rss_mb()}))


def model_run(workload, n, tracing, budget):
    """(seconds, peak RSS MB) of one model run in a child process, or None past the budget."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, str(n), str(int(tracing))]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode:
        raise RuntimeError(p.stderr.strip().splitlines()[-1])
    return json.loads(p.stdout.splitlines()[-1])


# ------------------------------------------------------------------ nginx
def nginx_run(workload, n, level):
    original = oracle_conf.build_config

    def build(*a):                     # the runner logs at debug; swap the level
        text = original(*a)
        if "/logs/error.log debug;" not in text:
            raise RuntimeError("oracle.conf.build_config changed: cannot set the log level")
        return text.replace("/logs/error.log debug;", f"/logs/error.log {level};", 1)
    oracle_conf.build_config = build
    try:
        r = oracle.run_real(conf_for(workload, n), "GET /t", timeout=300)
    finally:
        oracle_conf.build_config = original
    return check(workload, n, r["status"], r["body"] + (r["startup_error"] or ""))


# ------------------------------------------------------------------ report
def fmt(x, width=9, digits=2):
    return f"{x:{width}.{digits}f}" if x is not None else f"{'-':>{width}}"


def bench(workload, sizes, a):
    print(f"\n== {workload}: {TITLE[workload]}")
    print(f"{'n':>8} {'units':>9} | {'nginx':>9} {'model off':>9} {'model on':>9} |"
          f" {'off/nginx':>9} {'on/nginx':>9} | {'RSS MB off/on (before run)':>28} {'wall s off/on':>15}")
    stopped = set()
    for n in sizes:
        units = n * UNITS_PER_N[workload]
        row = {"nginx": None, 0: None, 1: None}
        rss = {0: "-", 1: "-"}
        wall = {0: "-", 1: "-"}
        if not a.no_nginx:
            row["nginx"] = statistics.median(nginx_run(workload, n, a.nginx_log_level)
                                             for _ in range(a.repeat)) * 1e6 / units
        for tracing in (0, 1):
            if tracing in stopped:
                wall[tracing] = "stopped"
                continue
            runs = []
            for _ in range(a.repeat):
                r = model_run(workload, n, tracing, a.budget)
                if r is None:
                    break
                runs.append(r)
            if len(runs) < a.repeat:
                stopped.add(tracing)
                wall[tracing] = f">{a.budget:g}s!"
                print(f"   !! model (tracing {'on' if tracing else 'off'}) took more than "
                      f"{a.budget:g} s at n={n}; larger sizes skipped")
                continue
            s = statistics.median(r["s"] for r in runs)
            row[tracing] = s * 1e6 / units
            rss[tracing] = f"{max(r['rss_mb'] for r in runs):.0f} ({runs[0]['rss0_mb']:.0f})"
            wall[tracing] = f"{s:.2f}"
        ratio = [row[t] / row["nginx"] if row[t] and row["nginx"] else None for t in (0, 1)]
        print(f"{n:>8} {units:>9} | {fmt(row['nginx'], digits=3)} {fmt(row[0])} {fmt(row[1])} |"
              f" {fmt(ratio[0], digits=1)} {fmt(ratio[1], digits=1)} |"
              f" {rss[0] + ' / ' + rss[1]:>28} {wall[0] + ' / ' + wall[1]:>15}", flush=True)


def main():
    ap = argparse.ArgumentParser(description="ngxcoro vs real nginx: scheduler cost per unit.")
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--no-nginx", action="store_true", help="model only")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, median kept (3)")
    ap.add_argument("--budget", type=float, default=180, help="seconds a model run may take (180)")
    ap.add_argument("--nginx-log-level", default="error",
                    help="nginx error_log level (error); `debug` is what the differential tests use")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return model_child(a.child[0], int(a.child[1]), a.child[2] == "1")
    if not a.no_nginx:
        ok, why = oracle.available()
        if not ok:
            sys.exit(f"real nginx not available ({why}); use --no-nginx")
    import lupa
    nginx_v = subprocess.run([oracle.NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, lupa {lupa.__version__} (LuaJIT, jit.off), {nginx_v}"
          f"{'' if a.no_nginx else f' at error_log level {a.nginx_log_level}'}")
    print(f"figures: µs per unit, median of {a.repeat}; nginx timed inside Lua "
          "(ngx.now(), 1 ms resolution), model timed around the whole run")
    t = time.perf_counter()
    for workload in ("threads", "yields"):
        bench(workload, (QUICK if a.quick else SIZES)[workload], a)
    if not a.no_nginx:
        print("\nnote: the nginx `threads` figure includes one real 1 ms wait "
              "(all timers are armed in the same ms, so they fire in one wave); "
              "the model's clock is virtual, so it waits for nothing.")
    print(f"total {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
