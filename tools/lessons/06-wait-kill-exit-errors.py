# %% [markdown]
# # 6 · wait, kill, exit and errors
#
# Light threads share one request, so the interesting question is who outlives whom. This
# lesson covers how a parent collects a child (`ngx_http_lua_uthread_wait` and
# `ngx_http_lua_uthread_kill` in `ngx_http_lua_uthread.c`), what `ngx.exit` and Lua errors do
# to the threads around them (`ngx_http_lua_run_thread` and `ngx_http_lua_handle_exit` in
# `ngx_http_lua_util.c`), and ends with a bug in 0.10.23.
#
# **Previous:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb) ·
# **Next:** [7 · Fan-out](07-fan-out.ipynb)

# %%
import re
import sys

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, scenario
from ngxcoro.viz.timeline import timeline_svg


def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

# %% [markdown]
# ## Zombies and ngx.thread.wait
# A light thread that ends while its parent is not waiting for it becomes a **zombie**: dead,
# but it keeps its return values (and still counts in `ctx->uthreads`) until the parent
# collects them. `wait` on a zombie returns at once, without yielding.
#
# Below, `quick` ends inside `spawn` (it never blocks), `slow` sleeps 10 ms. Then the entry
# waits for both, with the sleeper first in the argument list.

# %%
waits = """
location /t {
    content_by_lua_block {
        local quick = ngx.thread.spawn(function() return "quick result" end)
        local slow = ngx.thread.spawn(function() ngx.sleep(0.01) return "slow result" end)
        ngx.say("quick is ", coroutine.status(quick), ", slow is ", coroutine.status(slow))
        ngx.say("wait(slow, quick): ", tostring(select(2, ngx.thread.wait(slow, quick))))
        ngx.say("wait(quick) again: ", tostring(select(2, ngx.thread.wait(quick))))
        ngx.say("wait(slow): ", tostring(select(2, ngx.thread.wait(slow))))
    }
}
"""

# %% predict
Predict("What does <code>ngx.thread.wait(slow, quick)</code> return?",
        ["slow result", "quick result", "both, in argument order"], "quick result",
        "wait scans its arguments left to right: slow is alive, so it is only flagged, but "
        "quick is a zombie and returns immediately. A zombie anywhere in the list wins over "
        "any thread that still has to finish.")

# %% check answer
report(ngxcoro.run(waits).body)

# %% [markdown]
# Once collected, a thread is plain dead: a second `wait` on it gives
# `nil, "already waited or killed"` (when it is the last argument; earlier in the list a dead
# thread is skipped).
#
# ## ngx.thread.kill
# `kill` never yields. It refuses more often than it succeeds:

# %%
kills = """
location /t {
    content_by_lua_block {
        local function try(label, t)
            local ok, err = ngx.thread.kill(t)
            ngx.say(label, ": ", tostring(ok), " ", tostring(err))
        end
        local sleeper = ngx.thread.spawn(function() ngx.sleep(1) end)
        local zombie = ngx.thread.spawn(function() return "done" end)
        local grandchild
        ngx.thread.spawn(function()
            grandchild = ngx.thread.spawn(function() ngx.sleep(0.01) end)
        end)
        local capturer = ngx.thread.spawn(function() ngx.location.capture("/sub") end)
        ngx.sleep(0.001)
        try("a sleeping thread", sleeper)
        try("the same one again", sleeper)
        try("a zombie", zombie)
        try("someone else's child", grandchild)
        try("a thread with a capture pending", capturer)
        try("a plain coroutine", coroutine.create(function() end))
    }
}
location /sub {
    content_by_lua_block { ngx.sleep(0.02) }
}
"""

# %% check
report(ngxcoro.run(kills).body)

# %% [markdown]
# Only the sleeper is really killed (its timer is cancelled, `del_thread`, `uthreads--`).
# The zombie is removed too, but reported as "already terminated". A thread with a
# subrequest in flight cannot be killed at all; it finishes normally later.
#
# ## Who dies with whom
# One location, three threads: `t1` wakes at 10 ms, the entry at 20 ms, `t2` at 30 ms. Each
# variant makes `t1` or the entry do something; the log (at `notice` level) shows who
# got past their sleep.

# %%
BASE = """
location /t {
    PHASE_by_lua_block {
        ngx.thread.spawn(function()            -- t1
            ngx.sleep(0.01)
            T1_ACTS
            ngx.log(ngx.NOTICE, "t1 goes on")
        end)
        ngx.thread.spawn(function()            -- t2
            ngx.sleep(0.03)
            ngx.log(ngx.NOTICE, "t2 woke")
        end)
        ENTRY_SAYS
        ngx.sleep(0.02)
        ENTRY_ACTS
        ngx.log(ngx.NOTICE, "entry goes on")
    }
    CONTENT
}
"""


def config(phase, t1="-- nothing", entry="-- nothing", says="-- says nothing"):
    content = 'content_by_lua_block { ngx.say("content ran") }' if phase != "content" else ""
    return (BASE.replace("PHASE", phase).replace("T1_ACTS", t1).replace("ENTRY_ACTS", entry)
            .replace("ENTRY_SAYS", says).replace("CONTENT", content))


VARIANTS = {
    "nobody acts": config("content"),
    "t1: ngx.exit(0)": config("content", t1="ngx.exit(0)"),
    "t1: ngx.exit(403)": config("content", t1="ngx.exit(403)"),
    "t1: error()": config("content", t1='error("t1 fails")'),
    "entry: error()": config("content", entry='error("entry fails")'),
    "entry: error() after ngx.say": config("content", entry='error("entry fails")',
                                           says='ngx.say("entry said this")'),
    "access, t1: ngx.exit(ngx.OK)": config("access", t1="ngx.exit(ngx.OK)"),
}


def summary(res):
    if res.status is None:
        answer = "empty reply"
    elif res.body.startswith("<html>"):
        answer = f"{res.status} error page"
    else:
        answer = f"{res.status} {res.body.strip()!r}"
    log = []
    for line in res.error_log:                      # keep the message, drop the clutter
        msg = line.split(" 1#1: *1 ")[1].split("\n")[0].split(", client:")[0]   # not the traceback
        msg = re.sub(r"^\[lua\] |^lua |runtime error: |\S+\(nginx\.conf:\d+\):\d+: ", "", msg)
        log.append(msg)
    return answer, log


def row(name):
    answer, log = summary(ngxcoro.run(VARIANTS[name], log_level="notice"))
    return f"{name:<30} {answer:<18} {'; '.join(log) or '(nobody went on, nothing logged)'}"

# %% check
report(*(row(name) for name in VARIANTS))

# %% [markdown]
# * **exit from any thread ends them all.** `ngx_http_lua_handle_exit` calls
#   `ngx_http_lua_request_cleanup`, whose `ngx_http_lua_finalize_threads` deletes every
#   thread of the handler, the sleeping entry included. In content that ends the request; in
#   access, `ngx.exit(ngx.OK)` from `t1` ends only the phase, and content runs.
# * **an entry-thread error is fatal to everyone** by the same cleanup. Before any output the
#   client gets a 500 page; after output the handler can only return `NGX_ERROR`, the
#   connection is torn down, and even the text already "said" (still buffered) is lost.
# * **a light-thread error is local**: one `[error] lua user thread aborted` line, the thread
#   becomes a zombie holding `false, message`, and the others carry on.

# %%
BlogBox("NGX_ERROR means an execution error, which ends the request.",
        "A Lua error in the entry thread becomes 500 only while nothing has been sent. After "
        "ngx.say it is NGX_ERROR: the request is terminated and the client gets an empty reply, "
        "not even the line that was already said.",
        "029-error-entry-after-output")

# %% [markdown]
# ## Tweak: watch the lanes
# One lane per coroutine; green runs, pale green is blocked, orange waits in
# `posted_threads`, hatched is a zombie, a thin line is dead. See where `t2`'s lane stops.

# %%
def lanes(name):
    res = ngxcoro.run(VARIANTS[name], snapshots=True)
    answer, _ = summary(res)
    return timeline_svg(res.snapshots, title=f"{name} -> {answer}")


Tweak("variant", list(VARIANTS), lanes, index=4)

# %% [markdown]
# ## pcall does not catch everything
# Errors inside a `coroutine.wrap` function are not returned to the caller: run_thread marks
# the wrap's parent with `propagate_error` and aborts *the parent* with the child's message.
# If the parent is the entry thread, that is the whole request.

# %% predict
Predict("<code>local f = coroutine.wrap(function() error(\"werr\") end); "
        "local ok, err = pcall(f)</code> in content_by_lua. What happens?",
        ["pcall returns false, \"werr\"", "the entry thread aborts: 500",
         "the wrap coroutine is logged and ignored"],
        "the entry thread aborts: 500",
        "The wrap's error is propagated by run_thread to the coroutine that called it, "
        "outside pcall's reach: \"lua entry thread aborted ... werr\", then a 500 page.")

# %% check answer
text, request, rec = scenario("038-wrap-error")
wrapped = ngxcoro.run(text, request)
report(f"{wrapped.status} {summary(wrapped)[1]}",
       f"real nginx: {rec['status']} {rec['error_log']}")

# %% [markdown]
# ## nginx surprises: a stale wait flag
# `wait(f, g)` sets `waited_by_parent` on both threads and returns when `f` ends; `g` keeps
# its flag. When `g` ends later, `run_thread` sees the flag and hands `g`'s results to the
# parent, which by then is blocked in something else: here an `ngx.sleep(0.2)` that returns
# after 0.04 s with `true, "g done"`.

# %%
BlogBox("A coroutine parked by an API (NGX_AGAIN) is resumed by that API's event: its "
        "timer, its socket, its subrequest.",
        "After ngx.thread.wait(f, g) returned for f, g's end resumes the parent in the middle "
        "of an unrelated ngx.sleep(0.2), which returns g's values early.",
        "065-stale-wait-flag")

# %%
text, request, rec = scenario("065-stale-wait-flag")
ngxcoro.show(text, request)

# %% check
stale = ngxcoro.run(text, request)
report(stale.body, f"real nginx sent the same body: {rec['body'] == stale.body}")

# %% [markdown]
# In the stepper, find the step where `g` ends: the graph shows the entry still blocked in
# its sleep, and `g` goes back to its parent as if it had been waited for.
#
# **Next:** [7 · Fan-out](07-fan-out.ipynb) — several subrequests from light threads.
