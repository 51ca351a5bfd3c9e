"""Benchmark: the same Lua on real nginx and on the ngxcoro model, as ratios.

    python3 bench/bench_scheduler.py [--quick] [--no-nginx] [--repeat N]

Prints figures; it is not a test.  Two workloads, each at three sizes:

  threads  N light threads that each ngx.sleep(0.001); the entry thread
           ngx.thread.wait()s on each of them          -> µs per light thread
  yields   N coroutine.wrap coroutines that each yield 10 values, all
           consumed by a for-in loop                   -> µs per yield

Each figure is µs per unit and its ratio to real nginx measured in the same
run of this script, for three ways of running the model:

  off  ngxcoro.run(..., trace=False): no listener at all
  run  ngxcoro.run(...): the default, with StapTrace and EventLog attached
  cli  python -m ngxcoro run --config F: the command line, a process of its
       own, start-up included (its fixed cost is printed on its own first),
       ngxcoro's bytecode cached as an installed package has it (--cli-compile:
       as the environment says, which may be PYTHONDONTWRITEBYTECODE)

Real nginx: ngxcoro.oracle.run_real; the work is timed inside Lua with
os.clock() (the worker's CPU time, µs resolution), so start-up and the one
real 1 ms wait of `threads` are not counted.  nginx logs at
--nginx-log-level (default `error`; the differential tests' `debug` costs it
a write() per debug line).  Model: time.perf_counter() around config load
and the whole request (virtual time is instant), nothing subtracted; each
model run is a fresh Python process, warmed up by one untimed one-line
request, whose peak RSS (VmHWM, LuaJIT's heap included) is printed too.  A run past --budget seconds is stopped and the
larger sizes skipped.  Each figure is the best of --repeat runs (on a shared
machine the others measure the neighbours).

Last, the snapshot cost per step (ngxcoro.run(..., snapshots=True), frames
unbounded) of `threads` at three small sizes, against the same run with no
snapshots: it should stay flat as the run grows.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
import ngxcoro                                     # noqa: E402
from ngxcoro import oracle                         # noqa: E402
from ngxcoro.oracle import conf as oracle_conf     # noqa: E402

TEMPLATE = """\
location = /t {{
    content_by_lua_block {{
        local n, done = {n}, 0
        local c0 = os.clock()
{work}
        ngx.say(string.format("%.6f %d", os.clock() - c0, done))
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
SNAP_SIZES, SNAP_QUICK = (30, 100, 300), (10, 30, 100)
MODES = ("off", "run", "cli")
WARM_UP = 'location = /t { content_by_lua_block { ngx.say(1) } }'


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


def run_off(text):
    """ngxcoro.run(trace=False); before it existed: a Worker with nobody listening."""
    try:
        return ngxcoro.run(text, "GET /t", trace=False)
    except TypeError:
        from ngxcoro.nginx import conf as nginx_conf
        from ngxcoro.trace import Hooks
        from ngxcoro.worker import Worker
        w = Worker(nginx_conf.load(text, "nginx.conf"), Hooks())
        r = w.serve("GET", "/t", "", "HTTP/1.1", [("Host", "localhost"), ("Connection", "close")])
        wire = r.connection.wire
        return ngxcoro.Result(wire.status, bytes(wire.body).decode(), [], [])


def snap_steps(text):
    """(seconds, steps) of a run with unbounded snapshots."""
    from ngxcoro.nginx import conf as nginx_conf
    from ngxcoro.trace import Hooks
    from ngxcoro.trace.snapshot import Snapshots
    from ngxcoro.worker import Worker
    t = CLOCK()
    hooks = Hooks()
    w = Worker(nginx_conf.load(text, "nginx.conf"), hooks)
    snaps = hooks.add(Snapshots(w, limit=10**9))
    w.serve("GET", "/t", "", "HTTP/1.1", [("Host", "localhost"), ("Connection", "close")])
    return CLOCK() - t, len(snaps.frames)


def model_child(workload, n, mode):
    """Runs in a fresh process: one request, prints {"s": seconds, ...} as JSON.
    A one-line request first, untimed, so the first run's warm-up (caches
    Python fills on first use) is not counted."""
    text = conf_for(workload, n)
    ngxcoro.run(WARM_UP, "GET /t")
    rss0 = peak_rss_mb()
    t = CLOCK()
    if mode == "snap":
        from ngxcoro.ngx_lua.vm import RunOutOfTime
        try:
            s, steps = snap_steps(text)
        except RunOutOfTime:
            print(json.dumps({"refused": "the 15 s wall-clock guard (RUN_WALL_LIMIT)"}))
            return
        print(json.dumps({"s": s, "steps": steps, "rss0_mb": rss0, "rss_mb": peak_rss_mb()}))
        return
    from ngxcoro.ngx_lua.vm import RunOutOfTime
    try:
        res = run_off(text) if mode == "off" else ngxcoro.run(text, "GET /t")
    except RunOutOfTime:         # the old no-listener run (a bare Worker) raises it
        print(json.dumps({"refused": "the 15 s wall-clock guard (RUN_WALL_LIMIT)"}))
        return
    s = CLOCK() - t
    if res.refused:              # one of the model's own bounds (15 s of wall time, ...)
        print(json.dumps({"refused": res.message}))
        return
    check(workload, n, res.status, res.body + (res.message or ""))
    print(json.dumps({"s": s, "rss0_mb": rss0, "rss_mb": peak_rss_mb()}))


def model_run(workload, n, mode, budget):
    """{"s": seconds, "rss_mb": ...} of one model run in a child process, or None past the budget."""
    if mode == "cli":
        return cli_run(conf_for(workload, n), budget, workload, n)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, str(n), mode]
    if CLOCK is time.process_time:
        cmd.append("--cpu")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode:
        raise RuntimeError(p.stderr.strip().splitlines()[-1])
    return json.loads(p.stdout.splitlines()[-1])


# the cli's bytecode: Python writes ngxcoro's .pyc files to this folder at the first
# run and reads them after, as an installed package (or a checkout run once) has them;
# PYTHONDONTWRITEBYTECODE in the environment (some sandboxes set it) would have every
# start compile ngxcoro's source again (about 70 ms).  --cli-compile keeps the
# environment's setting instead.
PYCACHE = None
CLI_COMPILE = False
# how the model is timed: wall time, or with --cpu the process's CPU time (as nginx's
# os.clock() is), which a machine shared with other work disturbs much less
CLOCK = time.perf_counter


def cli_env(compile_each_time=False):
    global PYCACHE
    env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT))
    if not compile_each_time:
        PYCACHE = PYCACHE or tempfile.mkdtemp(prefix="ngxcoro-bench-pyc-")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def cli_run(text, budget, workload=None, n=None):
    """The wall time of `python -m ngxcoro run --config F` (start-up included); with
    --cpu, its CPU time."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(text)
    env = cli_env(CLI_COMPILE)
    try:
        t, ru = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run([sys.executable, "-m", "ngxcoro", "run", "--config", f.name],
                           capture_output=True, text=True, timeout=budget, env=env)
        s = time.perf_counter() - t
        if CLOCK is time.process_time:      # --cpu: the child's CPU time
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s = r1.ru_utime - ru.ru_utime + r1.ru_stime - ru.ru_stime
    except subprocess.TimeoutExpired:
        return None
    finally:
        os.unlink(f.name)
    if p.returncode == 2:       # ngxcoro refused: one of its own bounds
        return {"refused": p.stdout.strip()}
    if workload is not None:
        body = p.stdout.split("\n\n", 1)[-1]
        check(workload, n, 200 if p.stdout.startswith("status: 200") else None, body)
    return {"s": s, "rss_mb": None}


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
def fmt(x, width=8, digits=2):
    return f"{x:{width}.{digits}f}" if x is not None else f"{'-':>{width}}"


def bench(workload, sizes, a):
    print(f"\n== {workload}: {TITLE[workload]}")
    print(f"{'n':>7} {'units':>8} | {'nginx':>7} | " + " | ".join(f"{m:>8} {m + '/ng':>7}" for m in MODES)
          + f" | {'RSS MB off/run':>14} | {('cpu' if a.cpu else 'wall') + ' s off/run/cli':>19}")
    stopped, notes = set(), []
    for n in sizes:
        units = n * UNITS_PER_N[workload]
        us, rss, wall = {}, {}, {}
        ng = None
        if not a.no_nginx:
            ng = min(nginx_run(workload, n, a.nginx_log_level)
                                   for _ in range(a.repeat)) * 1e6 / units
        for mode in MODES:
            if mode in stopped:
                wall[mode] = "stop"
                continue
            runs = []
            for _ in range(a.repeat):
                r = model_run(workload, n, mode, a.budget)
                if r is None or "refused" in r:
                    break
                runs.append(r)
            if len(runs) < a.repeat:
                stopped.add(mode)
                wall[mode] = f">{a.budget:g}" if r is None else "refused"
                if r is not None:
                    notes.append(f"{mode} at n={n}: {r['refused'][:160]}")
                continue
            s = min(r["s"] for r in runs)
            us[mode] = s * 1e6 / units
            wall[mode] = f"{s:.2f}"
            if runs[0]["rss_mb"] is not None:
                rss[mode] = f"{max(r['rss_mb'] for r in runs):.0f}"
        cells = [f"{fmt(us.get(m))} {fmt(us[m] / ng if m in us and ng else None, 7, 1)}"
                 for m in MODES]
        print(f"{n:>7} {units:>8} | {fmt(ng, 7, 3)} | " + " | ".join(cells)
              + f" | {rss.get('off', '-') + '/' + rss.get('run', '-'):>14}"
              + f" | {'/'.join(wall.get(m, '-') for m in MODES):>19}", flush=True)
    for note in notes:
        print(f"   refused (larger sizes skipped): {note}")


def bench_snapshots(sizes, a):
    print("\n== snapshots: threads with snapshots=True (unbounded), against the same run without")
    print(f"{'n':>7} {'steps':>7} | {'s with':>8} {'s without':>9} | {'ms per step':>11} | {'RSS MB':>7}")
    for n in sizes:
        runs = [model_run("threads", n, "snap", a.budget) for _ in range(a.repeat)]
        bases = [model_run("threads", n, "run", a.budget) for _ in range(a.repeat)]
        if any(r is None or "refused" in r for r in runs + bases):
            print(f"{n:>7} {'-':>7} | stopped past {a.budget:g} s or refused by the model's "
                  "15 s guard; larger sizes skipped")
            return
        base = min(r["s"] for r in bases)
        s = min(r["s"] for r in runs)
        steps = runs[0]["steps"]
        print(f"{n:>7} {steps:>7} | {s:>8.2f} {base:>9.2f} | {(s - base) * 1e3 / steps:>11.3f} |"
              f" {max(r['rss_mb'] for r in runs):>7.0f}", flush=True)


def main():
    global CLI_COMPILE, CLOCK
    ap = argparse.ArgumentParser(description="ngxcoro vs real nginx: scheduler cost per unit.")
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--no-nginx", action="store_true", help="model only")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, the best kept (3)")
    ap.add_argument("--budget", type=float, default=180, help="seconds a model run may take (180)")
    ap.add_argument("--nginx-log-level", default="error",
                    help="nginx error_log level (error); `debug` is what the differential tests use")
    ap.add_argument("--only", choices=("threads", "yields", "snapshots"), action="append",
                    help="run only this part (repeatable)")
    ap.add_argument("--cli-compile", action="store_true",
                    help="the cli without a bytecode cache when the environment says "
                         "PYTHONDONTWRITEBYTECODE (each start compiles ngxcoro's source)")
    ap.add_argument("--cpu", action="store_true",
                    help="time the model by its CPU time (nginx's os.clock() is CPU time too); "
                         "the default is wall time")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cpu:
        CLOCK = time.process_time
    if a.child:
        return model_child(a.child[0], int(a.child[1]), a.child[2])
    if not a.no_nginx:
        ok, why = oracle.available()
        if not ok:
            sys.exit(f"real nginx not available ({why}); use --no-nginx")
    import lupa
    nginx_v = subprocess.run([oracle.NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} {platform.release()},"
          f" load {os.getloadavg()[0]:.2f}")
    print(f"python {platform.python_version()}, lupa {lupa.__version__} (LuaJIT, jit.off), {nginx_v}"
          f"{'' if a.no_nginx else f' at error_log level {a.nginx_log_level}'}")
    print(f"figures: µs per unit and the ratio to nginx (x/ng), best of {a.repeat}; nginx timed "
          "inside Lua (os.clock), the model around the whole run"
          + (" (its CPU time: --cpu)" if a.cpu else " (wall time)"))
    CLI_COMPILE = a.cli_compile
    cli_run(WARM_UP, a.budget)             # (writes the bytecode cache: untimed)
    empty = min(cli_run(WARM_UP, a.budget)["s"] for _ in range(a.repeat))
    print(f"cli start-up (a one-line request): {empty:.2f} s, included in the cli figures"
          + ("; ngxcoro's source compiled at each start (--cli-compile, PYTHONDONTWRITEBYTECODE="
             f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})" if a.cli_compile else
             "; its bytecode cached (as installed), the first start untimed"))
    t = time.perf_counter()
    parts = a.only or ("threads", "yields", "snapshots")
    for workload in ("threads", "yields"):
        if workload in parts:
            bench(workload, (QUICK if a.quick else SIZES)[workload], a)
    if "snapshots" in parts:
        bench_snapshots(SNAP_QUICK if a.quick else SNAP_SIZES, a)
    print(f"total {time.perf_counter() - t:.0f} s")
    if PYCACHE:
        shutil.rmtree(PYCACHE, ignore_errors=True)


if __name__ == "__main__":
    main()
