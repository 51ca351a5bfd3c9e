"""Benchmark: building a stepper for a big run.

    python3 bench/bench_stepper.py [N ...] [--limit STEPS] [--parts]

Prints figures; it is not a test.  For each N (default 300 1000 3000): N
light threads that ngx.sleep and are each waited for (the run of
/tmp/prompts/stepbig.py), run with snapshots=True and the snapshot cap
lifted to --limit (default 100,000), then `Stepper(result)`.  Columns: steps
recorded, the run's wall time, the Stepper's, the synced frames as JSON (MB),
the timeline SVG (MB), and the process's peak RSS so far.  --parts also times
the stepper's consumers one by one (universe, timeline, build_frames).
Each N runs in this process, one after the other; the run itself may meet
the model's 15 s wall-clock guard (then fewer steps, said in the last column).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ngxcoro                                            # noqa: E402
from ngxcoro.trace import snapshot                        # noqa: E402


def threads_lua(n):
    return (f"local ts = {{}}\n"
            f"for i = 1, {n} do\n"
            f"  ts[i] = ngx.thread.spawn(function() ngx.sleep(0.001 * (i % 7)) ngx.print(i % 10) end)\n"
            f"end\n"
            f"for i = 1, {n} do ngx.thread.wait(ts[i]) end\n"
            f'ngx.say("done")\n')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[300, 1000, 3000])
    ap.add_argument("--limit", type=int, default=100_000)
    ap.add_argument("--parts", action="store_true")
    a = ap.parse_args(argv)
    snapshot.Snapshots.__init__.__defaults__ = (a.limit, False)
    from ngxcoro.viz import graph, stepper, timeline
    print(f"# {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; Snapshots cap {a.limit:,} "
          f"(default {snapshot.Snapshots.LIMIT:,})")
    print(f"{'N':>6} {'steps':>7} {'run s':>7} {'Stepper s':>10} {'frames MB':>10} "
          f"{'timeline MB':>12} {'RSS MB':>7}  note")
    for n in a.sizes:
        t = time.perf_counter()
        res = ngxcoro.run_lua(threads_lua(n), snapshots=True)
        t_run = time.perf_counter() - t
        t = time.perf_counter()
        st = stepper.Stepper(res)
        t_st = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        note = "" if res.status == 200 else (res.message or "")[:60]
        print(f"{n:>6} {len(res.snapshots):>7} {t_run:>7.2f} {t_st:>10.2f} "
              f"{len(json.dumps(st.frames)) / 1e6:>10.2f} {len(st.timeline) / 1e6:>12.2f} "
              f"{rss:>7.0f}  {note}", flush=True)
        if a.parts:
            snaps = res.snapshots
            for label, fn in (("universe", lambda: graph.universe(snaps)),
                              ("timeline", lambda: timeline.timeline_svg(snaps)),
                              ("build_frames", lambda: stepper.build_frames(snaps, res.body or "")),
                              ("timer_labels", lambda: stepper.timer_labels(snaps))):
                t = time.perf_counter()
                fn()
                print(f"{'':>6}   {label:<14} {time.perf_counter() - t:7.2f} s", flush=True)


if __name__ == "__main__":
    main()
