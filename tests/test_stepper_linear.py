"""The stepper's consumers of a run are linear in (steps + changes): Steps.walk,
CoNodes (node_names as the run grows), graph.universe, timeline.lane_runs,
build_frames' coroutine checkpoints and changes (and stepper.js's cosAt).

Each incremental version is compared with the full computation it replaced,
kept here as a plain reference (every step's whole coroutine list), on real
runs: oracle scenarios that have zombies, coroutines, wraps, subrequests,
stale posted threads, and a run with more threads than one checkpoint.
No timings are asserted."""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest

import ngxcoro
from ngxcoro.oracle import SCENARIO_DIR, parse_scenario
from ngxcoro.trace.snapshot import Snapshots, Steps, walk
from ngxcoro.viz import graph, timeline
from ngxcoro.viz.graph import _focus_index, _latest, _req_parent, current_and_posted

SCENARIOS = ("004-nested-spawn", "009-wait-zombie", "013-kill-zombie", "035-coroutine-in-thread",
             "036-spawn-in-coroutine", "037-wrap-basic", "066-hang-coroutine-zombie",
             "162-capture-fan-out", "163-capture-entry-and-threads",
             "175-stale-posted-rewrite-to-access", "178-stale-posted-access-to-content-thread")


def threads_lua(n):
    return (f"local ts = {{}}\n"
            f"for i = 1, {n} do\n"
            f"  ts[i] = ngx.thread.spawn(function() ngx.sleep(0.001 * (i % 7)) ngx.print(i % 10) end)\n"
            f"end\n"
            f"for i = 1, {n} do ngx.thread.wait(ts[i]) end\n"
            f'ngx.say("done")\n')


_RUNS = {}


def run(name):
    if name not in _RUNS:
        if name.startswith("threads"):
            _RUNS[name] = ngxcoro.run_lua(threads_lua(int(name[7:])), snapshots=True)
        else:
            path = next(pathlib.Path(SCENARIO_DIR).glob(f"{name}.ngx"))
            text = path.read_text(encoding="utf-8")
            info = parse_scenario(text)
            _RUNS[name] = ngxcoro.run(text, info["request"], headers=list(info["headers"]),
                                      body=info["body"], snapshots=True, peers=info["peers"])
    return _RUNS[name]


RUNS = SCENARIOS + ("threads80",)


# ------------------------------------------------------------ the references
def ref_node_names(coroutines):
    out, used, seen = [], set(), {}
    for c in coroutines:
        base = "co_" + (re.sub(r"[^A-Za-z0-9]+", "_", str(c["name"])).strip("_") or "x")
        seen[base] = seen.get(base, 0) + 1
        node = base if seen[base] == 1 else f"{base}_{seen[base]}"
        while node in used:
            node += "_"
        used.add(node)
        out.append(node)
    return out


def ref_lane_states(snapshots):
    if not snapshots:
        return [], []
    last = snapshots[-1]["coroutines"]
    lanes = [(n, c["name"], c["kind"]) for n, c in zip(ref_node_names(last), last)]
    states = []
    for s in snapshots:
        here = ref_node_names(s["coroutines"])
        current, posted = current_and_posted(s, [c["name"] for c in s["coroutines"]], here)
        row = [None] * len(lanes)
        for i, c in enumerate(s["coroutines"]):
            if i < len(row):
                row[i] = (timeline._state(c, here[i], current, posted), c["waiting"] or "")
        states.append(row)
    return lanes, states


def ref_universe(snapshots):
    snapshots = [s for s in snapshots if s is not None]
    cos, reqs, entry_owner, conns, timers_max, sems, socks = [], [], {}, [], 0, [], []
    for s in snapshots:
        names = [c["name"] for c in s["coroutines"]]
        nodes = ref_node_names(s["coroutines"])
        focus = _focus_index(s)
        for i, r in enumerate(s["requests"]):
            if i == len(reqs):
                reqs.append({"node": f"req_{i}", "uri": r["uri"], "args": r.get("args"),
                             "parent": _req_parent(s["requests"], i),
                             "connection": r["connection"], "has_ctx": False, "posted_max": 0})
            u = reqs[i]
            if r["ctx"] is not None:
                u["has_ctx"] = True
                u["posted_max"] = max(u["posted_max"], len(r["ctx"]["posted_threads"]))
                entry_owner.setdefault(r["ctx"]["entry_co_ctx"], i)
            if r["connection"] not in conns:
                conns.append(r["connection"])
        creator = None
        if s["event"] == "user_coroutine_create":
            d = s.get("data") or {}
            child = _latest(names, d.get("child"))
            par = _latest(names, d.get("parent"), child) if child is not None else None
            if child is not None and par is not None:
                creator = (child, nodes[par])
        for i, c in enumerate(s["coroutines"]):
            if i == len(cos):
                cos.append({"node": nodes[i], "name": c["name"], "kind": c["kind"], "parent": None,
                            "request": None, "_focus": focus, "_creator": None})
            u = cos[i]
            u["kind"] = c["kind"]
            if u["parent"] is None and c["parent"] is not None:
                j = _latest(names, c["parent"], i)
                if j is not None:
                    u["parent"] = nodes[j]
            if creator is not None and creator[0] == i and u["_creator"] is None:
                u["_creator"] = creator[1]
        timers_max = max(timers_max, len(s["timers"]))
        for x in s.get("semaphores", ()):
            if x["name"] not in sems:
                sems.append(x["name"])
        for x in s.get("sockets", ()):
            if x["name"] not in socks:
                socks.append(x["name"])
    by_node = {}
    for u in cos:
        u["entry"] = u["kind"] == "entry" or u["name"] in entry_owner
        if u["parent"] is None and not u["entry"]:
            u["parent"] = u["_creator"]
        by_node[u["node"]] = u
    for u in cos:
        seen, x = set(), u
        while not x["entry"] and x["parent"] in by_node and x["node"] not in seen:
            seen.add(x["node"])
            x = by_node[x["parent"]]
        u["request"] = (entry_owner[x["name"]] if x["entry"] and x["name"] in entry_owner
                        else x["_focus"])
    for u in cos:
        u["creator"] = u["_creator"] if u["entry"] and u["kind"] != "entry" else None
        del u["_focus"], u["_creator"]
    return {"steps": len(snapshots), "coroutines": cos, "requests": reqs,
            "connections": sorted(conns), "timers_max": timers_max, "semaphores": sems,
            "sockets": socks}


def ref_frame_cos(snapshots):
    """Every frame's coroutine list as build_frames + pool_cos made it (one
    whole list per frame), and the pool."""
    pool, index, out = [], {}, []
    for s in snapshots:
        nums = []
        for c in s["coroutines"]:
            if c.get("config_line") is not None:
                co = {"name": c["name"], "kind": c["kind"], "status": c["status"],
                      "line": c["config_line"], "waiting": c.get("waiting") or ""}
                key = tuple(co.values())
                if key not in index:
                    index[key] = len(pool)
                    pool.append(co)
                nums.append(index[key])
        out.append(nums)
    return out, pool


def ref_timer_labels(snaps):
    from collections import Counter
    seen, known, fired, before = [], set(), [], []
    for s in snaps:
        now = [t["label"] for t in s.get("timers") or []]
        for lab in now:
            if lab and lab not in known:
                known.add(lab)
                seen.append(lab)
        still = Counter(now)
        left = []
        for lab in before:
            if still[lab]:
                still[lab] -= 1
            else:
                left.append(lab)
        if s["event"] not in ("sleep_cleanup", "finalize_threads", "request_cleanup"):
            fired.extend(lab for lab in left if lab)
        before = now
    return seen, fired


def runs_of(column):
    return timeline._runs(column)


# ------------------------------------------------------------------ the tests
@pytest.mark.parametrize("name", RUNS)
def test_walk_is_the_run_by_its_changes(name):
    snaps = run(name).snapshots
    assert isinstance(snaps, Steps) and len(snaps) > 5
    full = list(snaps)
    before = []
    for k, s, changed in snaps.walk():
        assert s == full[k]
        cos = full[k]["coroutines"]
        assert changed == sorted(changed)
        # every entry that is new or not the step before's is listed (a listed one may be
        # equal: it ran, its line was read again)
        assert {i for i, c in enumerate(cos) if i >= len(before) or c is not before[i]} <= set(changed)
        before = cos
    # the generic walk over a plain list gives the same steps
    plain = [(k, s, changed) for k, s, changed in walk(full)]
    assert [s for _, s, _ in plain] == full
    for (_, _, ch), (_, _, ch2) in zip(plain, snaps.walk()):
        assert set(ch) <= set(ch2)


@pytest.mark.parametrize("name", RUNS)
def test_incremental_node_names_and_universe(name):
    snaps = run(name).snapshots
    nodes = graph.CoNodes()
    for k, s, changed in snaps.walk():
        nodes.update(s["coroutines"], changed)
        if k % 7 == 0 or k == len(snaps) - 1:
            assert nodes.nodes == ref_node_names(s["coroutines"]) == graph.node_names(s["coroutines"])
            names = [c["name"] for c in s["coroutines"]]
            for nm in set(names) | {"nope"}:
                for before in (None, 0, len(names) // 2, len(names)):
                    assert nodes.latest(nm, before) == _latest(names, nm, before)
    assert graph.universe(snaps) == ref_universe(list(snaps))
    assert graph.universe(list(snaps)) == ref_universe(list(snaps))


@pytest.mark.parametrize("name", RUNS)
def test_lane_runs_are_the_lane_states_columns(name):
    snaps = run(name).snapshots
    lanes, states = ref_lane_states(list(snaps))
    got_lanes, runs, n = timeline.lane_runs(snaps)
    assert got_lanes == lanes and n == len(snaps) == len(states)
    assert runs == [runs_of([row[i] for row in states]) for i in range(len(lanes))]
    assert timeline.lane_states(snaps) == (lanes, states)


def test_lanes_of_a_hand_made_list_that_shrinks():
    """A list that is not a recorded run (a coroutine disappears): walk says
    `changed` None and every lane is looked at again, as the full table did."""
    snaps = list(run("009-wait-zombie").snapshots)
    cut = len(snaps) // 2
    snaps[cut] = dict(snaps[cut], coroutines=snaps[cut]["coroutines"][:1])
    assert timeline.lane_states(snaps) == ref_lane_states(snaps)
    assert graph.universe(snaps) == ref_universe(snaps)


@pytest.mark.parametrize("name", RUNS)
def test_frames_rebuild_every_coroutine_list(name):
    from ngxcoro.viz.stepper import CO_CHECKPOINT, build_frames, frame_cos
    res = run(name)
    want, want_pool = ref_frame_cos(list(res.snapshots))
    pool = []
    frames = build_frames(res.snapshots, body=res.body or "", co_pool=pool)
    assert pool == want_pool
    assert [frame_cos(frames, k) for k in range(len(frames))] == want
    # the same frames from a plain list
    assert build_frames(list(res.snapshots), body=res.body or "", co_pool=[]) == frames
    # a checkpoint costs no more than the steps and changes since the one before
    checks = [k for k, f in enumerate(frames) if "cos" in f]
    assert checks[0] == 0
    diffs = sum(len(f.get("co_diff", ())) for f in frames)
    assert sum(len(frames[k]["cos"]) for k in checks[1:]) <= len(frames) + diffs
    for a, b in zip(checks, checks[1:] + [len(frames)]):
        assert b - a <= max(CO_CHECKPOINT, max(len(want[k]) for k in range(a, b)) + 1)
    assert all(("co_diff" in f) + ("cos" in f) <= 1 and "timers" not in f for f in frames)


@pytest.mark.parametrize("name", RUNS + ("005-sleep-order", "012-kill-sleeping"))
def test_timer_labels_equal_the_full_comparison(name):
    from ngxcoro.viz.stepper import timer_labels
    snaps = run(name).snapshots
    assert timer_labels(snaps) == ref_timer_labels(list(snaps))
    # labels that repeat, or none: the multiset comparison
    t = lambda *labels: [{"label": x} for x in labels]
    hand = [{"event": "sleep", "timers": t("a", "b", "a")}, {"event": "x", "timers": t("a", "b")},
            {"event": "x", "timers": t(None, "b", "c")}, {"event": "sleep_cleanup", "timers": t("c")},
            {"event": "x", "timers": t(*"cdefghijklmn")}, {"event": "x", "timers": []}]
    assert timer_labels(hand) == ref_timer_labels(hand)
    # the lists compared in C: the first timer gone, one more at the end (a label
    # listed twice, lists equal by value but not the same objects, the last one gone)
    hand = [{"event": "sleep", "timers": t("a", "b", "c")}, {"event": "x", "timers": t("b", "c")},
            {"event": "sleep", "timers": t("b", "c", "d")}, {"event": "sleep", "timers": t("b", "c", "d", "b")},
            {"event": "x", "timers": t("c", "d", "b")}, {"event": "sleep_cleanup", "timers": t("d", "b")},
            {"event": "x", "timers": t("b")}, {"event": "x", "timers": t()},
            {"event": "sleep", "timers": t("e")}]
    assert timer_labels(hand) == ref_timer_labels(hand) == (list("abcde"), list("abdb"))


def test_stepper_js_rebuilds_the_lists_as_frame_cos_does(tmp_path):
    """stepper.js's cosAt, run by node on a run's frames, gives frame_cos."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    from ngxcoro.viz.stepper import Stepper, build_frames, frame_cos
    js = Stepper._esm.default_value
    fn = re.search(r"^function cosAt\(fs, i\) \{.*?^\}", js, re.S | re.M).group(0)
    res = run("threads80")
    frames = build_frames(res.snapshots, body=res.body or "", co_pool=[])
    (tmp_path / "frames.json").write_text(json.dumps(frames), encoding="utf-8")
    (tmp_path / "t.js").write_text(
        fn + "\nconst fs = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));\n"
        "console.log(JSON.stringify(fs.map((_, i) => cosAt(fs, i))));\n", encoding="utf-8")
    p = subprocess.run([node, str(tmp_path / "t.js"), str(tmp_path / "frames.json")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [frame_cos(frames, k) for k in range(len(frames))]


def test_a_20k_step_stepper_builds():
    """The default cap lets 20,000 steps through, and the stepper is built
    from them (no timing asserted: it is linear, see bench/bench_stepper.py)."""
    from ngxcoro.viz.stepper import Stepper, frame_cos
    assert Snapshots.LIMIT == 20_000
    res = ngxcoro.run_lua(threads_lua(1100), snapshots=True)
    n = len(res.snapshots)
    assert n == 20_000 and res.status == 200
    assert any(x.startswith("steps: only the first 20,000 are recorded") for x in res.notes)
    st = Stepper(res, precomputed=10)
    assert len(st.frames) == st.meta["steps"] == n and st.meta["pictures"] == 10
    assert st.timeline.startswith("<svg") and f'data-steps="{n}"' in st.timeline
    pool = [st.co_pool[k] for k in frame_cos(st.frames, n - 1)]
    assert pool == [{"name": c["name"], "kind": c["kind"], "status": c["status"],
                     "line": c["config_line"], "waiting": c.get("waiting") or ""}
                    for c in res.snapshots[-1]["coroutines"] if c.get("config_line") is not None]
    assert len(pool) > 50
    assert len(json.dumps(st.frames)) < 2000 * n      # no frame carries every coroutine
