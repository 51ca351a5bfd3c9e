# %% [markdown]
# # 2 · ngx.thread.spawn and post_thread
#
# Lesson 1 ended with a light thread that printed before the entry thread's next line. This
# lesson is about why: what `ngx.thread.spawn` does to the **caller**, and the queue the
# caller waits in, `ctx->posted_threads`.
#
# You will see:
# 1. spawn puts the caller at the **tail** of `posted_threads` and runs the child at once;
# 2. the queue's history, step by step, with nested spawns;
# 3. what a sleep in the child changes, and the **zombie** a child leaves when it ends first.

# %%
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario
from ngxcoro.viz import graph, render
from ngxcoro.viz.timeline import timeline_svg

# %% [markdown]
# ## What spawn does
# `ngx_http_lua_uthread.c: ngx_http_lua_uthread_spawn`, in order:
#
# 1. create the child coroutine, give it a registry reference, count it in `ctx->uthreads`,
#    and set its status to `running`;
# 2. set `ctx->co_op = USER_THREAD_RESUME`, and mark the caller `thread_spawn_yielded` (so it
#    gets the thread object back when it is resumed);
# 3. **post the caller**: `ngx_http_lua_util.c: ngx_http_lua_post_thread(r, ctx, caller)`;
# 4. make the child the current coroutine (`ctx->cur_co_ctx`) and yield the caller.
#
# `run_thread` sees the yield, reads `USER_THREAD_RESUME`, and resumes the child in the same
# loop (lesson 1). The caller is only a node in a list now. `post_thread` allocates the node
# from the request's pool and walks the list to its end to append it. The model's copy of
# the C function:

# %%
print(inspect.getsource(util.post_thread))

# %% [markdown]
# No check for duplicates, no check of the status: a node is only ever removed by being
# popped from the head (lesson 3).
#
# ## Nested spawns
# Scenario `004-nested-spawn`: the entry spawns `t1`, which spawns `t2`, which spawns `t3`,
# which sleeps.

# %%
nested, nested_req, nested_rec = scenario("004-nested-spawn")
print(nested.split("\n\n", 1)[1])

# %% predict
Predict("When <code>t3</code> reaches <code>ngx.sleep</code>, three threads are waiting in "
        "<code>posted_threads</code>. Which line is printed right after <code>t3: start</code>?",
        ["t2: end", "t1: end", "entry: end", "t3: after sleep"], "entry: end",
        "Each spawn appended its caller at the tail: the queue is entry, t1, t2. "
        "It is first in, first out, so the entry, which waited longest, runs first.")

# %% [markdown]
# The real answer, and the queue's history. `+` is a `post_thread` (and who caused it), `-` is
# a node popped from the head by the loop of lesson 3.

# %%
def queue_history(res):
    """posted_threads after every post_thread (+) and every pop (-)."""
    snaps, rows = res.snapshots, [f"{'step':>4}  {'':<30} posted_threads (head -> tail)"]
    for i, s in enumerate(snaps):
        if s["event"] == "post_thread":
            nxt = snaps[i + 1]
            why = (f"{nxt['data']['parent']} spawns {nxt['data']['child']}"
                   if nxt["event"] == "user_thread_spawn" else "time slice")
            what = f"+ {s['data']['co']}  ({why})"
        elif s["event"] == "run_posted_thread":
            what = f"- {s['data']['co']}  (popped, {s['data']['status']})"
        else:
            continue
        queue = s["requests"][0]["ctx"]["posted_threads"]
        rows.append(f"{s['step']:>4}  {what:<30} {', '.join(queue) or '(empty)'}")
    return "\n".join(rows)

# %% check answer
res = ngxcoro.run(nested, nested_req, snapshots=True)
print(res.body)
print(queue_history(res))

# %% [markdown]
# The children ran in spawn order (each one first), but the parents come back oldest first:
# entry, then `t1`, then `t2`. The node for `t2` was appended by walking past `entry` and
# `t1`: that walk is the `for` loop of `post_thread` above.

# %%
BlogBox("A light thread has a higher priority than its parent, which is forced to pause; "
        "when the light thread ends or yields, run_posted_threads runs the parent.",
        "There is no priority, only a FIFO. Spawn appends the caller at the tail and the child "
        "gets the first slice. With nested spawns the queue is entry, t1, t2, so when t3 blocks "
        "the entry runs next, before t1 and t2, which are its children.",
        "004-nested-spawn")

# %% [markdown]
# ## Step through it
# Use "next run_posted_thread" to jump between pops, and watch the `posted_threads` row of
# the request box.

# %%
ngxcoro.show(nested, nested_req)

# %% [markdown]
# ## Tweak: how deep the spawns go
# The slider sets how many levels of nested spawns there are (the deepest thread sleeps). The
# picture is the graph at the step where `posted_threads` is longest, just before the first
# pop. Each level adds one node at the tail, and the pops always start from the entry.

# %%
def chain(depth):
    """A location whose threads spawn each other `depth` levels deep; the last one sleeps."""
    body = 'ngx.say("t{d}: start")\nngx.sleep(0.01)\nngx.say("t{d}: after sleep")'.format(d=depth)
    for d in range(depth - 1, -1, -1):
        me = f"t{d}" if d else "entry"
        body = (f'ngx.say("{me}: start")\nngx.thread.spawn(function()\n'
                + "\n".join("    " + l for l in body.splitlines())
                + f'\nend)\nngx.say("{me}: end")')
    return ngxcoro.lua_location(body)

def deepest(depth):
    r = ngxcoro.run(chain(depth), "GET /t", snapshots=True)
    snaps = r.snapshots
    k = max(range(len(snaps)), key=lambda i: (len((snaps[i]["requests"][0]["ctx"] or {})
                                                  .get("posted_threads", [])), -i))
    u = graph.universe(snaps)
    svg = render.static_svg(render.svg(graph.to_dot(snaps[k], snaps[k - 1], u)))
    return pre(r.body + "\n" + queue_history(r)) + svg

Tweak("levels of spawn", [1, 2, 3, 4], deepest, index=2)

# %% [markdown]
# ## With and without a sleep
# The child always runs first, **up to its first block or its end**. Whether it blocks
# decides whether the parent's next line comes before or after the child's last one.
# Scenario `003-spawn-sleep`, and the same code with the sleep taken out:

# %% check
sleepy, sleepy_req, _ = scenario("003-spawn-sleep")
for name, conf in [("with ngx.sleep(0.05)", sleepy),
                   ("without it", sleepy.replace("ngx.sleep(0.05)", ""))]:
    r = ngxcoro.run(conf, sleepy_req, snapshots=True)
    pop = next(s for s in r.snapshots if s["event"] == "run_posted_thread")
    t1 = next(c for c in pop["coroutines"] if c["name"] == "t1")
    print(f"--- {name}\n{r.body}{queue_history(r)}")
    print(f"when entry is popped, t1 is {t1['status']}"
          + (f" (blocked in {t1['waiting']})" if t1["waiting"] else ""))

# %% [markdown]
# Without the sleep the child ends inside the first `run_thread` call and the entry is popped
# afterwards; with it, the entry is popped while the child is still asleep. The timelines of
# the two runs (orange: waiting in `posted_threads`, pale green: blocked in `ngx.sleep`):

# %%
Tweak("child", ["sleeps", "does not sleep"],
      lambda v: timeline_svg(ngxcoro.run(sleepy if v == "sleeps" else
                                         sleepy.replace("ngx.sleep(0.05)", ""),
                                         sleepy_req, snapshots=True).snapshots))

# %% [markdown]
# ## Zombies
# When a light thread ends and its parent is still alive but not waiting for it
# (`ngx.thread.wait`), `run_thread` cannot hand the results over. It keeps them on the
# child's stack, marks the child `zombie`, and files it in the parent's zombie list
# (`ngx_http_lua_util.c: ngx_http_lua_post_zombie_thread`; a different list from
# `posted_threads`). The zombie still counts in `ctx->uthreads`. It goes away when the
# parent waits for it, kills it, or ends. Scenario `002-spawn-no-io`:

# %% check
zconf, zreq, _ = scenario("002-spawn-no-io")
zres = ngxcoro.run(zconf, zreq, snapshots=True)
print(zres.body)
print(f"{'step':>4}  {'event':<30} then t1 is  ctx->uthreads")
for s, after in zip(zres.snapshots, zres.snapshots[1:]):
    if s["event"] in ("user_thread_spawn", "zombie", "run_posted_thread", "thread_delete"):
        t1 = next(c["status"] for c in after["coroutines"] if c["name"] == "t1")
        what = s["event"] + " " + (s["data"].get("co") or s["data"]["child"])
        print(f"{s['step']:>4}  {what:<30} {t1:<11} {after['requests'][0]['ctx']['uthreads']}")

# %% [markdown]
# The entry found `t1` as a zombie when it asked. When the entry itself ended, its zombie
# was deleted first (`uthreads` 1 → 0), then the entry.

# %%
BlogBox("When the light thread has run to its end, run_posted_threads runs the parent.",
        "The ended thread is not gone: its parent never waited, so it is a zombie that holds "
        "its return values and still counts in ctx->uthreads. ngx.thread.wait on it returns "
        "at once with those values; after that it is dead.",
        "009-wait-zombie")

# %% [markdown]
# **Previous:** [1 · Coroutines inside nginx](01-coroutines.ipynb) ·
# **Next:** [3 · run_posted_threads](03-run-posted-threads.ipynb) — the loop that pops
# `posted_threads`, and what it does with each return code.
