"""The plain data a Stepper ships (stepper.py): one frame per snapshot --
the explanation, the stage of the scheduler, where the model is, each
coroutine's Lua line (as numbers into a pool, a checkpoint and its changes),
the output so far --, the timer labels a completion order names, the
ngxcoro source files the frames point into, and the run's error lines.
Linear in the run (trace.snapshot.walk); nothing here draws.
"""
from __future__ import annotations

import operator
import pathlib
import re
from collections import Counter

from .explain_zh import explain_zh
from .i18n import language
from .pictures import _trim_svg, intern as _intern

_HERE = pathlib.Path(__file__).resolve().parent
_PKG = _HERE.parent

#: The stages of the scheduler a learner should keep apart, in the order a
#: request usually meets them (JSV9000's "which part of the loop are we in").
STAGES = ("event handler", "phase handler", "run_thread", "run_posted_threads",
          "finalize_request")

_STAGE_OF_C = {
    "ngx_http_lua_run_thread": "run_thread",
    # ngx.* and coroutine.* APIs run inside run_thread's lua_resume
    **{f"ngx_http_lua_{n}": "run_thread" for n in (
        "ngx_sleep", "uthread_spawn", "uthread_wait", "uthread_kill", "coroutine_resume",
        "coroutine_yield", "coroutine_wrap", "ffi_exit", "ngx_exec", "ngx_redirect",
        "ngx_location_capture_multi", "ngx_req_read_body", "ngx_req_set_uri", "handle_exit",
        "handle_exec", "handle_rewrite_jump", "post_zombie_thread", "on_abort", "ffi_sema_new",
        "ffi_sema_wait", "ffi_sema_post", "ffi_sema_count")},
    "ngx_http_echo_handler": "phase handler",
    "ngx_http_proxy_handler": "phase handler",
    **{n: "finalize_request" for n in (
        "ngx_http_finalize_request", "ngx_http_close_request", "ngx_http_free_request",
        "ngx_http_close_connection", "ngx_http_terminate_request",
        "ngx_http_lua_request_cleanup", "ngx_http_lua_post_subrequest")},
    **{n: "event handler" for n in (
        "ngx_http_lua_sleep_handler", "ngx_http_lua_sleep_resume",
        "ngx_http_echo_sleep_event_handler", "ngx_http_lua_wev_handler",
        "ngx_http_run_posted_requests", "ngx_http_lua_subrequest_resume",
        "ngx_http_lua_req_body_post_read", "ngx_http_lua_content_phase_post_read",
        "ngx_http_lua_generic_phase_post_read", "ngx_http_read_client_request_body",
        "ngx_http_request_handler", "ngx_http_block_reading",
        "ngx_http_lua_rd_check_broken_connection", "ngx_http_lua_check_broken_connection",
        "ngx_http_lua_on_abort_resume", "ngx_http_lua_sema_handler",
        "ngx_http_lua_sema_timeout_handler", "ngx_http_lua_sema_resume")},
}


def stage_of(c_function, event, previous):
    """Which stage a step belongs to.  Helpers that many stages call
    (post_thread, del_thread, finalize_threads, send_chain_link ...) stay in
    the stage of the step before them."""
    if c_function and c_function.endswith("run_posted_threads"):
        return "run_posted_threads"
    if event == "client_close":                 # an I/O event: the client's FIN
        return "event handler"
    if c_function and c_function.endswith("_by_chunk") or event == "phase_handler":
        return "phase handler"
    if c_function in _STAGE_OF_C:
        return _STAGE_OF_C[c_function]
    if previous is None and event in ("reset_ctx", "finalize_threads"):
        return "phase handler"
    return previous


_CONFIG_RE = re.compile(
    r"(?m)^\s*(?:location\s+(?:(?:=|\^~)\s*[/@]\S*|~\*?\s*\S+|[/@]\S*)\s*\{"
    r"|server\s*\{|http\s*\{)")


def is_config(text):
    """True for nginx config text (a `location`, `server` or `http` block),
    False for a bare Lua chunk (`ngx.location.capture` is Lua, not a block)."""
    return bool(_CONFIG_RE.search(text))




def timeline(snaps):
    from .timeline import timeline_svg
    return _trim_svg(timeline_svg(snaps))


# ----------------------------------------------------------------- frames
def _main_request(snap):
    reqs = snap.get("requests") or []
    return next((r for r in reqs if r.get("main")), reqs[0] if reqs else None)


#: a frame carries its whole coroutine list ("cos") at step 0 and then once the
#: steps and changes since the last such frame reach this, or the list's length
CO_CHECKPOINT = 64


def build_frames(snaps, body=None, co_pool=None):
    """Snapshots -> frames: only what the browser shows, as plain JSON.
    Only coroutines that are on a Lua line are listed (the graph shows the
    rest), as numbers into `co_pool` (a list, filled here: most coroutines
    look the same from one step to the next).  With `body` (the final
    response body), output sent so far that is a prefix of it is stored as
    its length, `sent_n`, not as text.

    Linear in (steps + changes) (trace.snapshot.walk): a frame does not
    carry the whole list.  A checkpoint frame has "cos" (the pool numbers,
    in creation order) and "co_at" (each one's place among the run's
    coroutines); a frame after it has "co_diff", [[place, number or -1 (not
    listed any more)], ...], when its list changed.  `frame_cos(frames, k)`
    (and stepper.js) rebuild step k's list from the checkpoint before it.
    A checkpoint comes when the steps and changes since the one before
    reach CO_CHECKPOINT or the list's length, so checkpoints cost no more
    than the changes, and a list is rebuilt from at most that many.
    The explanation is the model's (English) unless the widgets speak
    Chinese (i18n.py): then explain_zh says it from the step's fields."""
    from ..trace.snapshot import walk
    pool = [] if co_pool is None else co_pool
    index = {(c["name"], c["kind"], c["status"], c["line"], c["waiting"]): k
             for k, c in enumerate(pool)}
    frames, stage = [], None
    zh = language() == "zh"
    shown = []                 # per coroutine of the run: its pool number, or -1 (not listed)
    listed = {}                # place -> pool number, of the listed ones
    since = 0                  # steps and changes since the last checkpoint
    last_out, out = None, None
    for i, s, changed in walk(snaps):
        where = s.get("where") or {}
        stage = stage_of(where.get("c_function"), s["event"], stage)
        main = _main_request(s)
        focus = next((r for r in s.get("requests") or [] if r["uri"] == s.get("focus")), main)
        ctx = (focus or {}).get("ctx") or {}
        cos = s.get("coroutines") or []
        if changed is None:
            changed = range(max(len(cos), len(shown)))
        diff = []
        for j in changed:
            num = -1
            if j < len(cos):
                c = cos[j]
                line = c.get("config_line")
                if line is not None:
                    co = {"name": c["name"], "kind": c["kind"], "status": c["status"],
                          "line": line, "waiting": c.get("waiting") or ""}
                    num = _intern(pool, index, tuple(co.values()), co)
            while len(shown) <= j:
                shown.append(-1)
            if shown[j] != num:
                shown[j] = num
                diff.append([j, num])
                if num < 0:
                    del listed[j]
                else:
                    listed[j] = num
        if s.get("output") is not last_out or out is None:
            last_out = s.get("output")
            o = last_out or {}
            sent = o.get("sent", "")
            out = {"status": o.get("status"), "held": o.get("held", ""),
                   "complete": bool(o.get("complete"))}
            if body is not None and body.startswith(sent):
                out["sent_n"] = len(sent)
            else:
                out["sent"] = sent
        frame = {
            "step": s.get("step", i),
            "event": s["event"],
            "explain": (zh and explain_zh(s["event"], s.get("data"), s.get("t_ms", 0))
                        or s.get("explain", "")),
            "c_function": where.get("c_function"),
            "function": where.get("function"),
            "file": where.get("file"),
            "line": where.get("line"),
            "stage": stage,
            "phase": s.get("phase", ""),
            "uri": s.get("focus"),
            "count": main["count"] if main else None,
            "t_ms": s.get("t_ms", 0),
            "rc": s.get("rc"),
            "cur_co_ctx": ctx.get("cur_co_ctx"),
            "co_op": ctx.get("co_op"),
            "posted_threads": list(ctx.get("posted_threads") or []),
            "uthreads": ctx.get("uthreads"),
            "out": dict(out),
            "log_lines": s.get("log_lines", 0),
        }
        since += 1 + len(diff)
        if not frames or since >= max(CO_CHECKPOINT, len(listed)):
            at = sorted(listed)
            frame["co_at"] = at
            frame["cos"] = [listed[j] for j in at]
            since = 0
        elif diff:
            frame["co_diff"] = diff
        frames.append(frame)
    return frames


def frame_cos(frames, k):
    """Step k's coroutine list (pool numbers, in creation order), rebuilt
    from the checkpoint frame before it and the "co_diff"s since (what
    stepper.js does)."""
    c = k
    while "cos" not in frames[c]:
        c -= 1
    listed = dict(zip(frames[c]["co_at"], frames[c]["cos"]))
    for f in frames[c + 1:k + 1]:
        for j, num in f.get("co_diff", ()):
            if num < 0:
                listed.pop(j, None)
            else:
                listed[j] = num
    return [listed[j] for j in sorted(listed)]


def timer_labels(snaps):
    """(labels seen, in the order first armed; labels in the order their
    timers fired).  A label that leaves the pending list at a step other
    than a cancellation fired there.  Linear in the run: a step that shares
    the step before's timer list (trace/snapshot.py keeps parts once) is
    passed over; a list that is the one before less its first timer, or
    plus one at its end (a timer fired, one armed: the usual changes), is
    told by comparing the lists in C; other lists are compared as multisets."""
    from ..trace.snapshot import walk
    seen, known, fired, before, last = [], set(), [], [], None
    for _k, s, _changed in walk(snaps):
        timers = s.get("timers") or []
        if timers is last:
            continue
        prev, last = last or [], timers
        if len(timers) == len(prev) - 1 and timers == prev[1:]:
            now, new_labels, left = before[1:], (), before[:1]
        elif len(timers) == len(prev) + 1 and timers[:-1] == prev:
            now = before + [timers[-1]["label"]]
            new_labels, left = now[-1:], ()
        else:
            now, new_labels, left = _changed_labels(before, list(map(_LABEL, timers)), known)
        for lab in new_labels:
            if lab and lab not in known:
                known.add(lab)
                seen.append(lab)
        if left and s["event"] not in ("sleep_cleanup", "finalize_threads", "request_cleanup"):
            fired.extend(lab for lab in left if lab)
        before = now
    return seen, fired


def _changed_labels(before, now, known):
    """(now, the labels new to `known` in the order listed, the labels of `before`
    no longer listed), the lists compared as multisets."""
    now_set, before_set = set(now), set(before)
    new = now_set - known
    if len(now_set) == len(now) and len(before_set) == len(before) and len(new) <= 8:
        # labels once each (the usual case): set differences, in C, keep it cheap
        # when thousands of timers are pending; the same answer as below
        return now, sorted(new, key=now.index), sorted(before_set - now_set, key=before.index)
    still = Counter(now)
    left = []
    for lab in before:
        if still[lab]:
            still[lab] -= 1
        else:
            left.append(lab)
    return now, now, left


_LABEL = operator.itemgetter("label")


def parse_order(text, labels=()):
    """"t2, t1" -> ['t2', 't1'].  Labels are separated by commas (a label
    may contain spaces: "echo_sleep /sub"); a piece that is not a known
    label but whose words all are ("t2 t1") is split at the spaces."""
    out = []
    for piece in re.split(r"[,;\n]", text or ""):
        piece = " ".join(piece.split())
        if not piece:
            continue
        words = piece.split()
        if labels and piece not in labels and all(w in labels for w in words):
            out.extend(words)
        else:
            out.append(piece)
    return out


def source_files(frames):
    """{"ngxcoro/ngx_lua/util.py": text, ...} for every file a frame points into."""
    out = {}
    for f in frames:
        name = f.get("file")
        if name and name not in out:
            path = _PKG.parent / pathlib.PurePosixPath(name)
            try:
                out[name] = path.read_text(encoding="utf-8")
            except OSError:
                out[name] = ""
    return out


def _is_lua_wrapper(config_text):
    """Is `config_text` what ngxcoro.lua_location makes of a bare chunk?"""
    return re.fullmatch(r"location = \S+ \{\n    content_by_lua_block \{.*\n    \}\n\}\n",
                        config_text, flags=re.S) is not None


def error_lines(result):
    """What went wrong, in nginx's words: the startup error, the model's
    message, and error_log lines at level error or worse."""
    out = []
    if getattr(result, "startup_error", None):
        out.append(result.startup_error)
    if getattr(result, "message", None) and result.message != getattr(result, "startup_error", None):
        if not (result.startup_error and result.message in result.startup_error):
            out.append(result.message)
    for line in getattr(result, "error_log", None) or []:
        if re.search(r"\[(error|crit|alert|emerg)\]", line):
            out.append(line)
    return out
