"""Benchmark: the cost of pictures -- snapshots, DOT frames, SVG frames.

    python3 bench/bench_frames.py [--quick] [--repeat N]

Prints figures; it is not a test.  Three runs of the model, made from Lua:

  small   ngx.say("hi")                                       (~17 steps)
  medium  10 light threads that ngx.sleep, each waited for    (~220 steps)
  large   100 such threads                                    (~1,900 steps)

For each: the model run with snapshots=True; building the DOT text of every
frame (ngxcoro.viz.graph.frames_dot, one universe, highlights against the
previous step); the timeline SVG; rendering every frame to SVG with each
renderer, both one process per frame (render.svg) and batched, 200 graphs per
process (render.svgs); and the bytes: snapshots as JSON, DOT text, SVG frames,
each raw and gzipped (what a notebook or a static page would carry).
Times are wall clock, medians of --repeat runs for the model and the DOT
build (renders are timed once: they are the slow part).  The render cache is
cleared before each render measurement.  --quick skips the one-process-per-
frame render of the large run.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ngxcoro                                            # noqa: E402
from ngxcoro.viz import graph, render                     # noqa: E402
from ngxcoro.viz.timeline import timeline_svg             # noqa: E402


def threads_lua(n):
    return (f"local ts = {{}}\n"
            f"for i = 1, {n} do\n"
            f"    ts[i] = ngx.thread.spawn(function() ngx.sleep(0.001 * (i % 7)) end)\n"
            f"end\n"
            f"for i = 1, {n} do ngx.thread.wait(ts[i]) end\n"
            f'ngx.say("done")\n')


CASES = [("small", 'ngx.say("hi")'), ("medium", threads_lua(10)), ("large", threads_lua(100))]


def timed(fn, repeat=1):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def size(texts):
    raw = "".join(texts).encode()
    return len(raw), len(gzip.compress(raw, 6, mtime=0))


def kb(n):
    return f"{n / 1024:,.0f}" if n >= 10240 else f"{n / 1024:,.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    renderers = [r for r in render.RENDERERS if render.executable(r)]
    print(f"# Python {platform.python_version()}, {os.cpu_count()} CPUs; renderers: "
          + ", ".join(f"{r} = {render.executable(r)}" for r in renderers))
    rows = []
    for label, lua in CASES:
        t_run, res = timed(lambda: ngxcoro.run_lua(lua, snapshots=True), a.repeat)
        snaps = res.snapshots
        n = len(snaps)
        t_dot, dots = timed(lambda: graph.frames_dot(snaps), a.repeat)
        t_tl, tl = timed(lambda: timeline_svg(snaps), a.repeat)
        uniq = list(dict.fromkeys(dots))
        row = {"case": label, "steps": n, "coroutines": len(snaps[-1]["coroutines"]),
               "unique": len(uniq), "t_run": t_run, "t_dot": t_dot, "t_tl": t_tl,
               "json": size([json.dumps(list(snaps), sort_keys=True)]), "dot": size(dots),
               "timeline": size([tl]), "render": {}}
        for r in renderers:
            render.cache_clear()
            t_batch, svgs = timed(lambda: render.svgs(uniq, r))
            t_each = None
            if not (a.quick and label == "large"):
                render.cache_clear()
                t_each, _ = timed(lambda: [render.svg(d, r) for d in uniq])
            render.cache_clear()
            row["render"][r] = {"batch": t_batch, "each": t_each, "svg": size(svgs)}
        rows.append(row)
        print(f"# {label}: done", file=sys.stderr)

    print()
    print("| case | steps | coroutines | model run | DOT build | DOT per step | timeline |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['steps']} | {r['coroutines']} | {r['t_run'] * 1e3:,.0f} ms "
              f"| {r['t_dot'] * 1e3:,.0f} ms | {r['t_dot'] / r['steps'] * 1e3:.2f} ms "
              f"| {r['t_tl'] * 1e3:,.0f} ms |")
    print()
    print("| case | renderer | batched total | batched per step | 1 process/step total "
          "| 1 process/step per step |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        for name, x in r["render"].items():
            each = ("skipped (--quick)" if x["each"] is None else f"{x['each']:,.1f} s")
            each_ps = ("-" if x["each"] is None else f"{x['each'] / r['unique'] * 1e3:.1f} ms")
            print(f"| {r['case']} | {name} | {x['batch']:,.1f} s | {x['batch'] / r['unique'] * 1e3:.1f} ms "
                  f"| {each} | {each_ps} |")
    print()
    print("| case | snapshots JSON KB (gz) | DOT KB (gz) | "
          + " | ".join(f"SVG {name} KB (gz)" for name in renderers)
          + " | timeline SVG KB (gz) | total JSON+SVG KB (gz) |")
    print("|---|---:|---:|" + "---:|" * len(renderers) + "---:|---:|")
    for r in rows:
        svg_cells = " | ".join(f"{kb(x['svg'][0])} ({kb(x['svg'][1])})" for x in r["render"].values())
        first = next(iter(r["render"].values()))["svg"] if r["render"] else (0, 0)
        total = (r["json"][0] + first[0] + r["timeline"][0], r["json"][1] + first[1] + r["timeline"][1])
        print(f"| {r['case']} | {kb(r['json'][0])} ({kb(r['json'][1])}) | {kb(r['dot'][0])} "
              f"({kb(r['dot'][1])}) | {svg_cells} | {kb(r['timeline'][0])} ({kb(r['timeline'][1])}) "
              f"| {kb(total[0])} ({kb(total[1])}) |")
    print()
    print("Total = snapshots JSON + the first renderer's SVG frames + the timeline. "
          "Steps with identical DOT are rendered once (all steps here are distinct: "
          "the caption names the step).")


if __name__ == "__main__":
    main()
