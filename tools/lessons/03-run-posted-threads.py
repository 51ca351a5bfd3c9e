# %% [markdown]
# # 3 · run_posted_threads
#
# Lesson 2 filled `ctx->posted_threads`; this lesson empties it. The loop that does it is
# `ngx_http_lua_util.c: ngx_http_lua_run_posted_threads`, the function part 6 of the blog is
# named after. Each time round it:
#
# 1. stops with `NGX_DONE` if the connection is gone (`c->destroyed`) or has moved on to
#    another request (`c->requests != nreqs`);
# 2. pops the head node; stops with `NGX_DONE` if there is none;
# 3. skips the node if its coroutine's status is not `running`;
# 4. makes it `ctx->cur_co_ctx` and calls `run_thread`;
# 5. acts on the return code: `NGX_AGAIN` → go round again; `NGX_DONE` → give one
#    reference back with `ngx_http_lua_finalize_request(r, NGX_DONE)` and go round again;
#    anything else (`NGX_OK`, `NGX_ERROR`, a status) → finalize with it if this is the
#    content phase, and return it.
#
# The content handler has a variant of its own, at the end of this lesson.

# %%
import inspect
import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import util, by
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario, count_history
from ngxcoro.viz.timeline import timeline_svg

print(inspect.getsource(util.run_posted_threads))

# %% [markdown]
# Who calls it: the rewrite and access handlers after their first `run_thread`
# (`ngx_http_lua_accessby.c: ngx_http_lua_access_by_chunk`, when it got `NGX_AGAIN` or
# `NGX_DONE`), and every wake-up, for example `ngx_http_lua_sleep.c: ngx_http_lua_sleep_resume`
# after a timer. The value `nreqs` is `c->requests` read just before that `run_thread`.
#
# ## A pop log
# The events of a run show every pop (`run_posted_thread`, the module's probe of the same
# name), and every return of `run_thread` (`run_thread_returned`), each with the C function
# it happened in. So `run_logged` runs with snapshots and pairs each pop of a running thread
# with the return of the `run_thread` that loop made for it (a stack, because a thread can
# start a nested handler with a loop of its own).

# %%
LOOPS = ("ngx_http_lua_run_posted_threads", "ngx_http_lua_content_run_posted_threads")

def run_logged(conf, request="GET /t"):
    """Run with snapshots; also return what each run_thread called by a posted loop returned."""
    res = ngxcoro.run(conf, request, snapshots=True)
    rcs, waiting = [], []
    for s in res.snapshots:
        loop = s["where"]["c_function"]
        if s["event"] == "run_posted_thread" and s["data"]["status"] == "running":
            waiting.append(len(rcs))
            rcs.append(None)
        elif s["event"] == "run_thread_returned" and loop in LOOPS:
            rcs[waiting.pop()] = s["data"]["rc"]
    return res, rcs

def pop_log(res, rcs):
    """One line per pop: the loop, the node, its status, what is left, and the loop's move."""
    rcs = iter(rcs)
    rows = [f"{'step':>4}  {'loop':<27} {'popped':<7} {'status':<8} {'left':<10} run_thread -> loop"]
    for s in res.snapshots:
        if s["event"] != "run_posted_thread":
            continue
        loop = s["where"]["c_function"].replace("ngx_http_lua_", "")
        left = ", ".join(s["requests"][0]["ctx"]["posted_threads"]) or "-"
        status = s["data"]["status"]
        if status != "running":
            move = "skipped"
        else:
            rc = next(rcs)
            move = rc_name(rc) + " -> " + (
                "continue" if rc == -2 else
                ("n++, continue" if loop.startswith("content") else
                 "finalize(r, NGX_DONE), continue") if rc == -4 else "return it")
        rows.append(f"{s['step']:>4}  {loop:<27} {s['data']['co']:<7} {status:<8} {left:<10} {move}")
    return "\n".join(rows)

# %% [markdown]
# An access handler with two light threads that take a time slice each
# (`coroutine.yield()`, see the end of the lesson). The entry kills `t2` while `t2`'s node is
# still queued, then sleeps.

# %% check
access = """
location /t {
    access_by_lua_block {
        local log = {}
        ngx.ctx.log = log
        local t1 = ngx.thread.spawn(function()
            log[#log + 1] = "t1: 1"
            coroutine.yield()
            log[#log + 1] = "t1: 2"
        end)
        local t2 = ngx.thread.spawn(function()
            log[#log + 1] = "t2: 1"
            coroutine.yield()
            log[#log + 1] = "t2: 2 (never)"
        end)
        log[#log + 1] = "entry kills t2: " .. tostring(ngx.thread.kill(t2))
        ngx.sleep(0.01)
        log[#log + 1] = "entry: after sleep"
    }
    content_by_lua_block {
        ngx.say(table.concat(ngx.ctx.log, "\\n"))
    }
}
"""
res, rcs = run_logged(access)
print(res.body)
print(pop_log(res, rcs))

# %% [markdown]
# Every run ended with `NGX_AGAIN` (a yield, a zombie, a sleep), so the loop went round each
# time. `t2`'s node was still in the list after the kill: nothing removes a node except a
# pop. The status check at step 3 is what makes it harmless: `t2` is `dead`, so it is
# skipped, the queue is empty, and the loop returns `NGX_DONE`. The access handler passes
# that to nginx's phase engine, which parks the request until the timer fires.
#
# ## Step through it

# %%
ngxcoro.show(access)

# %% [markdown]
# ## When the status check is not enough
# The check assumes that a node whose coroutine is `running` belongs to a live thread. But
# the entry thread's co ctx is **one struct inside the Lua ctx**, zeroed and reused by every
# handler (lesson 1), and `ngx_http_lua_reset_ctx` does not clear `posted_threads`.
# Scenario `077-stale-posted-entry`: in access, a light thread calls `ngx.exit(ngx.OK)` at
# once, while the entry is still queued. The access handler ends; its queued entry node
# stays behind.

# %%
stale, stale_req, _ = scenario("077-stale-posted-entry")
print(stale.split("\n\n", 1)[1])

# %% predict
Predict("In the content phase, <code>ngx.sleep(0.1)</code> parks the new entry thread. "
        "What happens next?",
        ["it sleeps 0.1 s, as asked",
         "content_run_posted_threads pops the old node and resumes the entry at once",
         "the old node is skipped as dead",
         "nginx logs an error"],
        "content_run_posted_threads pops the old node and resumes the entry at once",
        "The old node points at <code>entry_co_ctx</code>, which now holds the content "
        "phase's entry thread with status <code>running</code>. The loop cannot tell it is "
        "stale and resumes it: <code>ngx.sleep</code> returns with no values, and its timer "
        "is cancelled when the entry ends.")

# %% check answer
sres, srcs = run_logged(stale, stale_req)
print(sres.body)
print(pop_log(sres, srcs))

# %%
BlogBox("run_posted_threads skips every posted thread whose status is not RUNNING, so "
        "threads that are gone are never run.",
        "A node from an earlier handler can point at the next handler's entry thread, which "
        "is RUNNING again. The content phase's ngx.sleep(0.1) returns at once.",
        "077-stale-posted-entry")

# %% [markdown]
# ## NGX_DONE, c->destroyed and c->requests
# After `ngx_http_lua_finalize_request(r, NGX_DONE)` the request may be gone: freed
# (`c->destroyed`), or, on a keepalive connection, already replaced by the next request
# (`c->requests` no longer equals `nreqs`). Either way `ctx` points into freed memory, so
# the loop must stop before it pops. Scenario `141-exec-access-thread-destroyed`: a light
# thread in access calls `ngx.exec` to an `echo` location while the entry is queued.
# `run_thread` returns `NGX_DONE`, the access handler gives the reference back, the request
# is freed, and `run_posted_threads` returns at its first check. (Lesson 5 follows `r->count`
# through this.) Below it, a variant that is not one of the recorded scenarios: the `ngx.exec`
# comes from the entry while the entry is run *by the loop*, and the target sleeps. The
# request survives the `finalize(r, NGX_DONE)`, so the loop goes on and skips `t1`, which
# the exec killed (compare scenario `142-exec-access-thread-target-sleeps`).

# %% check
dconf, dreq, _ = scenario("141-exec-access-thread-destroyed")
dres = ngxcoro.run(dconf, dreq, snapshots=True)
print(dres.body)
print(count_history(dres))
queued = [s["requests"][0]["ctx"]["posted_threads"] for s in dres.snapshots if s["requests"][0]["ctx"]]
print("still queued when the ctx was last seen:", queued[-1])
print("pops:", sum(s["event"] == "run_posted_thread" for s in dres.snapshots))
print("c->destroyed at the end:", dres.snapshots[-1]["requests"][0]["destroyed"])

parked = """
location /t {
    access_by_lua_block {
        ngx.thread.spawn(function()
            coroutine.yield()
            ngx.log(ngx.NOTICE, "t1 after its slice (never)")
        end)
        ngx.exec("/sleepy")
    }
}
location /sleepy {
    content_by_lua_block {
        ngx.sleep(0.02)
        ngx.say("sleepy target")
    }
}
"""
pres, prcs = run_logged(parked)
print("--- the exec comes from a posted run, and the target parks:", pres.body.strip())
print(pop_log(pres, prcs))

# %%
BlogBox("The loop checks c->destroyed before each pop: if finalize_request(r, NGX_DONE) "
        "freed the request, the loop returns.",
        "0.10.23 checks `c->destroyed || c->requests != nreqs`. The second half covers a "
        "keepalive connection that already serves the next request (this runner uses one "
        "request per connection, so only the first half is recorded).",
        "141-exec-access-thread-destroyed")

# %% [markdown]
# ## The content handler's own loop
# `ngx_http_lua_contentby.c: ngx_http_lua_content_run_posted_threads` runs only after the
# content handler's first `run_thread` (and for timers). It differs in three ways:
#
# * no `c->destroyed` / `nreqs` check;
# * `NGX_DONE` is not given back at once: it counts it in `n` (the caller passes `n = 1`
#   when its own `run_thread` already returned `NGX_DONE`);
# * when the queue runs empty with `n == 0` it does `r->main->count++` and returns
#   `NGX_DONE`: that is the reference that keeps the request alive while Lua is parked, and
#   `ngx_http_core_content_phase` gives it straight back with `finalize_request(r, NGX_DONE)`.

# %%
print(inspect.getsource(by.content_run_posted_threads))

# %% [markdown]
# The count history of a content phase that parks (scenario `003-spawn-sleep`), and of one
# whose first `run_thread` returned `NGX_DONE` from an `ngx.exec` (scenario
# `143-exec-content-thread-named`; its queued entry is dead and skipped, so `n` stays 1):

# %% check
for name in ("003-spawn-sleep", "143-exec-content-thread-named"):
    conf, req, _ = scenario(name)
    r, rcs = run_logged(conf, req)
    print(f"--- {name}\n{r.body}", end="")
    print(pop_log(r, rcs))
    print(count_history(r))

# %% [markdown]
# ## coroutine.yield in a light thread is a time slice
# In an entry thread or a light thread, `coroutine.yield()` has no resumer to go back to.
# `run_thread` (case `USER_CORO_YIELD`) drops the yielded values, sets the status back to
# `running`, and then:
#
# * if `posted_threads` is **not empty**: posts the thread at the tail and returns
#   `NGX_AGAIN`, so everyone queued runs first;
# * if it is empty: resumes the same thread at once, and `coroutine.yield()` returns nothing.
#
# Scenario `041-yield-time-slice`: two workers and the entry take turns. In
# `042-yield-entry-alone` the entry yields twice, once alone and once with a child queued.

# %%
def slices(res):
    """What run_thread did at each coroutine.yield in a thread."""
    snaps, rows = res.snapshots, []
    for s, nxt in zip(snaps, snaps[1:]):
        if s["event"] == "thread_yield":
            queue = s["requests"][0]["ctx"]["posted_threads"]
            act = ("re-posted, queue now " + ", ".join(nxt["requests"][0]["ctx"]["posted_threads"])
                   if nxt["event"] == "post_thread" else "queue empty: goes on at once")
            rows.append(f"{s['step']:>4}  {s['data']['co']:<6} yields; queue {', '.join(queue) or '-':<10} {act}")
    return "\n".join(rows)

# %% check
for name in ("041-yield-time-slice", "042-yield-entry-alone"):
    tconf, treq, _ = scenario(name)
    tres = ngxcoro.run(tconf, treq, snapshots=True)
    print(f"--- {name}\n{tres.body}{slices(tres)}")

# %% [markdown]
# ## Tweak: how many workers
# The same shape with 0 to 3 workers (each prints and yields twice) and an entry that yields
# once. With no worker the entry's yield finds an empty queue and goes straight on; with
# more workers every yield goes to the back of a longer line. In the timeline, orange is
# "waiting in `posted_threads`".

# %%
def workers(n):
    lua = """
local function worker(name)
    return function()
        for i = 1, 2 do
            ngx.say(name, " ", i)
            coroutine.yield()
        end
    end
end
for k = 1, %d do
    ngx.thread.spawn(worker("w" .. k))
end
ngx.say("entry yields")
coroutine.yield()
ngx.say("entry done")
""" % n
    r = ngxcoro.run_lua(lua, "GET /t", snapshots=True)
    return pre(r.body + "\n" + slices(r)) + timeline_svg(r.snapshots)

Tweak("workers", [0, 1, 2, 3], workers, index=2)

# %% [markdown]
# You can now read `run_posted_threads` line by line: the two stop conditions, the pop, the
# status check (and its blind spot), the `run_thread` call, and the three ways it answers a
# return code; and tell it apart from the content handler's loop.
#
# **Previous:** [2 · ngx.thread.spawn and post_thread](02-spawn-post-thread.ipynb) ·
# **Next:** [4 · The return codes](04-return-codes.ipynb) — what each phase handler does with
# what `run_thread` and this loop return.
