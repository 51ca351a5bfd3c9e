# %% [markdown]
# # 1 · Coroutines inside nginx
#
# Every piece of Lua that nginx runs for a request runs inside a Lua **coroutine**, and
# nginx's C code decides when each one runs. This lesson is about the one C function that
# does all the resuming, `ngx_http_lua_util.c: ngx_http_lua_run_thread` (in the model:
# `ngxcoro/ngx_lua/util.py: run_thread`), and about what `coroutine.status` tells you inside it.
#
# You will see:
# 1. the **entry thread** each `*_by_lua` handler starts;
# 2. why `coroutine.resume` does not resume anything by itself (the **trampoline**);
# 3. the five statuses, and two that surprise people who know plain Lua.

# %%
import ngxcoro
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre
from ngxcoro.viz.timeline import timeline_svg

# %% [markdown]
# ## One entry thread per handler
# `rewrite_by_lua*`, `access_by_lua*` and `content_by_lua*` each get their own coroutine,
# the *entry thread*. The phase's `*_by_chunk` function (for example
# `ngx_http_lua_contentby.c: ngx_http_lua_content_by_chunk`) clears the request's Lua ctx
# (`ngx_http_lua_reset_ctx`), makes the coroutine (`ngx_http_lua_new_thread`) and calls
# `run_thread` on it. Here is a location with all three.

# %%
three = """
location /t {
    rewrite_by_lua_block { ngx.ctx.seen = "rewrite" }
    access_by_lua_block  { ngx.ctx.seen = ngx.ctx.seen .. ", access" }
    content_by_lua_block { ngx.say(ngx.ctx.seen, ", content") }
}
"""
res3 = ngxcoro.run(three, "GET /t", snapshots=True)

def entry_threads(res):
    """Each phase handler, the coroutine its run_thread resumed, and what run_thread returned."""
    rows, phase = [f"{'phase':<8} {'C function':<32} {'resumes':<8} returns"], None
    for s in res.snapshots:
        if s["event"] == "phase_handler":
            phase, fn = s["data"]["phase"], s["where"]["c_function"]
        elif s["event"] == "run_thread" and phase:
            co = s["data"]["co"]
        elif s["event"] == "run_thread_returned" and phase:
            rows.append(f"{phase:<8} {fn:<32} {co:<8} {s['rc']}")
            phase = None
    return "\n".join(rows)

# %% check
print(res3.body)
print(entry_threads(res3))

# %% [markdown]
# Three handlers, three entry threads, each finished within a single `run_thread` call
# (`NGX_OK`). The coroutine is called `entry` each time because the ctx keeps one
# `entry_co_ctx` and zeroes it for every handler. Even the `lua_State` is the same one: when an
# entry thread ends, `ngx_http_lua_del_thread` puts it in a cache, and the next handler takes
# it back. The systemtap trace of lua-nginx-module's test suite names states by number, and
# it sees state 1 end three times:

# %% check
print("\n".join(res3.stap))

# %% [markdown]
# ## coroutine.resume does not resume
# In plain Lua, `coroutine.resume(co)` calls into `co` and returns when `co` yields: the C
# stack grows by one `lua_resume` per nested resume. ngx_lua replaces `coroutine.resume`,
# `coroutine.yield` and `ngx.thread.spawn` with functions that only **record an intention**
# in `ctx->co_op` (and the next coroutine in `ctx->cur_co_ctx`), then yield the *calling*
# coroutine back to `run_thread`. `run_thread` sees `LUA_YIELD`, reads `co_op` and resumes the
# next coroutine itself, in its own loop. It is a trampoline: Lua never resumes Lua.
#
# | `ctx->co_op` | set by | what `run_thread` does next |
# |---|---|---|
# | `NOP` | any API that blocks (`ngx.sleep`, ...) | return `NGX_AGAIN`; a timer or I/O event will call it again |
# | `USER_CORO_RESUME` | `coroutine.resume` (`ngx_http_lua_coroutine.c`) | move the arguments to the target, resume it |
# | `USER_CORO_YIELD` | `coroutine.yield` | move the values to the resumer, resume it (in an entry or light thread: a time slice, lesson 3) |
# | `USER_THREAD_RESUME` | `ngx.thread.spawn` (`ngx_http_lua_uthread.c`) | resume the new light thread (lesson 2) |
#
# A resume/yield ping-pong, in the content phase:

# %%
ping = """
local gen = coroutine.create(function(n)
    for i = 1, n do
        coroutine.yield("ping " .. i)
    end
    return "done"
end)
for k = 1, 3 do
    local ok, v = coroutine.resume(gen, 2)
    ngx.say(tostring(ok), " ", v)
end
"""
res = ngxcoro.run_lua(ping, "GET /t", snapshots=True)

def trampoline(res):
    """Every lua_resume that came back, grouped by the run_thread call that made it: how the
    coroutine came back (a yield with its co_op, or its end) and what run_thread did next."""
    snaps, out = res.snapshots, []
    for i, s in enumerate(snaps):
        if s["event"] == "run_thread":
            out.append(f"run_thread (called after {snaps[i - 1]['where']['c_function']}):")
        if s["event"] != "resume_returned":
            continue
        co, rv = s["data"]["co"], s["data"]["rv"]
        op = snaps[i + 1]["data"]["op"] if snaps[i + 1]["event"] == "co_op" else "-"
        then = "return"
        for x in snaps[i + 1:]:
            if x["event"] == "resume_returned":          # the loop went round: same call
                then = "resume " + x["data"]["co"]
            elif x["event"] == "run_thread_returned":    # the caller logs the rc
                then = "return " + x["rc"]
            elif x["event"] == "send_last_buf":          # label `done`: everything ended
                then = "return NGX_OK"
            elif x["event"] in ("run_posted_thread", "run_thread", "count", "timer_expired"):
                if x["requests"][0]["ctx"]["cur_co_ctx"] is None:
                    then = "return NGX_AGAIN"            # every NGX_AGAIN clears cur_co_ctx
            else:
                continue
            break
        how = "yielded" if rv == 1 else "finished" if rv == 0 else f"failed ({rv})"
        out.append(f"  {s['step']:>3}  {co:<6} {how:<9} co_op {op:<19} then: {then}")
    return "\n".join(out)

# %% check
print(res.body)
print(trampoline(res))

# %% [markdown]
# Read it top to bottom: the entry's `lua_resume` **returns** (with `USER_CORO_RESUME`)
# before `co1` starts, and `co1`'s returns (with `USER_CORO_YIELD`) before the entry goes on.
# At no point are two `lua_resume` calls on the C stack. All seven `lua_resume` calls are made
# by one `run_thread` call, in its loop, and the call ends when the entry itself finishes.
#
# ## Tweak: what the coroutine does
# Pick a variant. The table is the same view as above; the picture is a timeline with one
# lane per coroutine (green: Lua is running in it; yellow: *normal*, it resumed someone and
# waits; blue: *suspended*; pale green: blocked in an API). With a sleep inside `co1`,
# `run_thread` returns `NGX_AGAIN` and the timer's own `run_thread` call resumes `co1`
# directly: the entry is never resumed in between, it stays *normal*. With a coroutine inside
# a coroutine, two of them are *normal* at once, and still only one `lua_resume` is running.

# %%
variants = {
    "ping-pong": ping,
    "sleep inside co1": ping.replace('coroutine.yield("ping " .. i)',
                                     'ngx.sleep(0.01)\n        coroutine.yield("ping " .. i)'),
    "a coroutine inside a coroutine": """
local outer = coroutine.create(function()
    local inner = coroutine.create(function()
        coroutine.yield("inner 1")
    end)
    local _, v = coroutine.resume(inner)
    coroutine.yield("outer got " .. v)
end)
local _, v = coroutine.resume(outer)
ngx.say(v)
""",
    "ngx.thread.spawn": """
local t = ngx.thread.spawn(function()
    ngx.say("light thread runs")
end)
ngx.say("entry goes on")
""",
}

def view(name):
    r = ngxcoro.run_lua(variants[name], "GET /t", snapshots=True)
    return pre(r.body + "\n" + trampoline(r)) + timeline_svg(r.snapshots)

Tweak("variant", list(variants), view)

# %% [markdown]
# With `ngx.thread.spawn` there are **two** `run_thread` calls: the light thread ran first, and
# the entry came back through a second call, made by the loop that runs *posted* threads.
# That is lesson 2 and lesson 3.
#
# ## Step through it
# The stepper shows the same run one event at a time: the coroutine tree, `cur_co_ctx` and
# `co_op` in the ctx box, and the Lua line of each coroutine.

# %%
ngxcoro.show(ping, "GET /t")

# %% [markdown]
# ## Statuses
# Each coroutine has a `co_status` in its `ngx_http_lua_co_ctx_t`, and `coroutine.status`
# (`ngx_http_lua_coroutine.c: ngx_http_lua_coroutine_status`) returns its name:
#
# | status | a coroutine is... |
# |---|---|
# | `running` | being run, **or** an entry thread / light thread that is blocked in an API (`ngx.sleep`, ...) or waiting in `posted_threads` |
# | `suspended` | a plain coroutine that was created and not resumed, or that called `coroutine.yield` |
# | `normal` | one that resumed a plain coroutine which has not come back yet |
# | `dead` | finished, failed or killed (also: a coroutine this request does not know) |
# | `zombie` | a light thread that finished before its parent waited for it (lesson 2) |
#
# Only `coroutine.resume` and `coroutine.yield` move a coroutine to `normal` or `suspended`.
# Blocking in `ngx.sleep` does not change the status at all.

# %%
sleeper = """
local t = ngx.thread.spawn(function()
    ngx.sleep(0.05)
end)
ngx.say(coroutine.status(t))
"""

# %% predict
Predict("A light thread <code>t</code> is blocked in <code>ngx.sleep(0.05)</code>. "
        "What does the entry thread print for <code>coroutine.status(t)</code>?",
        ["running", "suspended", "normal", "dead"], "running",
        "<code>ngx.sleep</code> yields with <code>co_op</code> NOP and leaves "
        "<code>co_status</code> alone. A light thread stays RUNNING from spawn to its end; "
        "<code>suspended</code> is only for plain coroutines that yielded.")

# %% check answer
print(ngxcoro.run_lua(sleeper, "GET /t").body)

# %% [markdown]
# Scenario `011-status` collects every case, and real nginx answered the same (its recording
# is in `ngxcoro/oracle/scenarios/expected/011-status.json`). Note the third and fourth lines: a light
# thread whose plain coroutine sleeps is `normal`, and that plain coroutine is `running` while
# it sleeps.

# %% check
from ngxcoro.viz.lessons import scenario
status_conf, status_req, recorded = scenario("011-status")
model = ngxcoro.run(status_conf, status_req)
print(model.body)
print("same as real nginx:", model.body == recorded["body"])

# %%
BlogBox("The light thread runs first and its parent is 'forced to pause' "
        "(父协程被迫暂停) until run_posted_threads runs it again.",
        "Paused is not 'suspended'. A light thread blocked in ngx.sleep, and the entry thread "
        "itself, report 'running'; a thread whose plain coroutine is blocked reports 'normal'. "
        "Only a plain coroutine that yielded, or was never resumed, is 'suspended'.",
        "011-status")

# %% [markdown]
# ## Your turn
# Change the ping-pong: resume `gen` a fourth time, or call `coroutine.status(gen)` between the
# resumes, and press Run.

# %%
from ngxcoro.viz import Editor
Editor(lua=ping)

# %% [markdown]
# **Previous:** [0 · A tour of ngxcoro](00-tour.ipynb) ·
# **Next:** [2 · ngx.thread.spawn and post_thread](02-spawn-post-thread.ipynb) — why the child
# runs first, and the queue the parent waits in.
