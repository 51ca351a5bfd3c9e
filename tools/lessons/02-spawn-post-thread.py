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

# %% [markdown] zh
# # 2 · ngx.thread.spawn 与 post_thread
#
# 第 1 课结尾，轻线程的输出出现在入口线程的下一行之前。本课讲其中的原因：`ngx.thread.spawn` 对**调用者**做了什么，以及调用者在哪个链表里等待，也就是 `ctx->posted_threads`。
#
# 你将看到：
# 1. spawn 把调用者放到 `posted_threads` 的**尾部**，并立刻运行子线程；
# 2. 嵌套 spawn 时这个链表一步步的变化；
# 3. 子线程里的一次 sleep 改变了什么，以及子线程先结束时留下的**僵尸**（zombie）。
#
# **上一课：** [1 · nginx 中的协程](01-coroutines.ipynb) · **下一课：** [3 · run_posted_threads](03-run-posted-threads.ipynb)

# %%
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario
from ngxcoro.viz import graph, render
from ngxcoro.viz.timeline import timeline_svg

# the words the helpers below print (the Chinese notebook has its own)
W = {"queue head": f"{'step':>4}  {'':<30} posted_threads (head -> tail)",
     "spawns": "{parent} spawns {child}", "time slice": "time slice",
     "posted": "+ {co}  ({why})", "popped": "- {co}  (popped, {status})", "empty": "(empty)",
     "levels": "levels of spawn",
     "with sleep": "with ngx.sleep(0.05)", "without": "without it",
     "t1 is": "when entry is popped, t1 is {status}", "blocked in": " (blocked in {w})",
     "child": "child", "child opts": ["sleeps", "does not sleep"],
     "zombie head": f"{'step':>4}  {'event':<30} then t1 is  ctx->uthreads"}

# %% zh
import inspect
import ngxcoro
from ngxcoro.ngx_lua import util
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario
from ngxcoro.viz import graph, render
from ngxcoro.viz.timeline import timeline_svg
set_language("zh")

W = {"queue head": "步骤                                 posted_threads（表头 -> 表尾）",
     "spawns": "{parent} spawn {child}", "time slice": "时间片",
     "posted": "+ {co}  （{why}）", "popped": "- {co}  （弹出，{status}）", "empty": "（空）",
     "levels": "spawn 层数",
     "with sleep": "有 ngx.sleep(0.05)", "without": "去掉 sleep",
     "t1 is": "入口线程被弹出时，t1 的状态是 {status}", "blocked in": "（阻塞在 {w} 中）",
     "child": "子线程", "child opts": ["sleep", "不 sleep"],
     "zombie head": "步骤  事件                           之后 t1 为  ctx->uthreads"}

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

# %% [markdown] zh
# ## spawn 做了什么
# `ngx_http_lua_uthread.c: ngx_http_lua_uthread_spawn` 依次：
#
# 1. 创建子线程的协程，为它在 registry 中建立引用，在 `ctx->uthreads` 中计数，并把它的状态设为 `running`；
# 2. 设置 `ctx->co_op = USER_THREAD_RESUME`，并把调用者标记为 `thread_spawn_yielded`（这样它被恢复时能拿到线程对象）；
# 3. **投递调用者**：`ngx_http_lua_util.c: ngx_http_lua_post_thread(r, ctx, caller)`；
# 4. 把子线程设为当前协程（`ctx->cur_co_ctx`），然后让调用者让出。
#
# `run_thread` 看到这次让出，读出 `USER_THREAD_RESUME`，在同一个循环里恢复子线程（第 1 课）。此时调用者只是链表里的一个节点。`post_thread` 从请求的内存池里分配这个节点，沿着链表走到末尾，把它追加上去。下面是模型中对应这个 C 函数的代码：

# %%
print(inspect.getsource(util.post_thread))

# %% [markdown]
# No check for duplicates, no check of the status: a node is only ever removed by being
# popped from the head (lesson 3).
#
# ## Nested spawns
# Scenario `004-nested-spawn`: the entry spawns `t1`, which spawns `t2`, which spawns `t3`,
# which sleeps.

# %% [markdown] zh
# 不检查重复，也不检查状态：节点只会以一种方式离开链表，就是从表头被弹出（第 3 课）。
#
# ## 嵌套 spawn
# 场景 `004-nested-spawn`：入口线程 spawn 出 `t1`，`t1` spawn 出 `t2`，`t2` spawn 出 `t3`，然后 `t3` sleep。

# %%
nested, nested_req, nested_rec = scenario("004-nested-spawn")
print(nested.split("\n\n", 1)[1])

# %% predict
Predict("When <code>t3</code> reaches <code>ngx.sleep</code>, three threads are waiting in "
        "<code>posted_threads</code>. Which line is printed right after <code>t3: start</code>?",
        ["t2: end", "t1: end", "entry: end", "t3: after sleep"], "entry: end",
        "Each spawn appended its caller at the tail: the queue is entry, t1, t2. "
        "It is first in, first out, so the entry, which waited longest, runs first.")

# %% predict zh
Predict("当 <code>t3</code> 执行到 <code>ngx.sleep</code> 时，有三个线程在 "
        "<code>posted_threads</code> 里等待。紧接在 <code>t3: start</code> 之后打印的是哪一行？",
        ["t2: end", "t1: end", "entry: end", "t3: after sleep"], "entry: end",
        "每次 spawn 都把调用者追加到链表尾部：链表是 entry、t1、t2。"
        "先进先出，所以等得最久的入口线程最先运行。")

# %% [markdown]
# The real answer, and the queue's history. `+` is a `post_thread` (and who caused it), `-` is
# a node popped from the head by the loop of lesson 3.

# %% [markdown] zh
# 下面是真实的答案，以及链表的历史。`+` 是一次 `post_thread`（以及起因），`-` 是第 3 课的循环从表头弹出的一个节点。

# %%
import unicodedata


def wpad(s, n):
    """s padded with spaces to n columns (a Chinese character takes two)."""
    return s + " " * max(0, n - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
                                    for c in s))


def queue_history(res):
    """posted_threads after every post_thread (+) and every pop (-)."""
    snaps, rows = res.snapshots, [W["queue head"]]
    for i, s in enumerate(snaps):
        if s["event"] == "post_thread":
            nxt = snaps[i + 1]
            why = (W["spawns"].format(**nxt["data"])
                   if nxt["event"] == "user_thread_spawn" else W["time slice"])
            what = W["posted"].format(co=s["data"]["co"], why=why)
        elif s["event"] == "run_posted_thread":
            what = W["popped"].format(co=s["data"]["co"], status=s["data"]["status"])
        else:
            continue
        queue = s["requests"][0]["ctx"]["posted_threads"]
        rows.append(f"{s['step']:>4}  {wpad(what, 30)} {', '.join(queue) or W['empty']}")
    return "\n".join(rows)

# %% check answer
res = ngxcoro.run(nested, nested_req, snapshots=True)
print(res.body)
print(queue_history(res))

# %% [markdown]
# The children ran in spawn order (each one first), but the parents come back oldest first:
# entry, then `t1`, then `t2`. The node for `t2` was appended by walking past `entry` and
# `t1`: that walk is the `for` loop of `post_thread` above.

# %% [markdown] zh
# 子线程按 spawn 的顺序运行（每个都是先运行的那个），而父协程是按等待时间从长到短回来的：先是 entry，然后 `t1`，然后 `t2`。`t2` 的节点是走过 `entry` 和 `t1` 之后才追加上去的：这一步就是上面 `post_thread` 里的那个 `for` 循环。

# %%
BlogBox("A light thread has a higher priority than its parent, which is forced to pause; "
        "when the light thread ends or yields, run_posted_threads runs the parent.",
        "There is no priority, only a FIFO. Spawn appends the caller at the tail and the child "
        "gets the first slice. With nested spawns the queue is entry, t1, t2, so when t3 blocks "
        "the entry runs next, before t1 and t2, which are its children.",
        "004-nested-spawn")

# %% zh
BlogBox("这个\"light thread\"运行优先级比它的父协程高，会优先运行，父协程被迫暂停。"
        "\"light thread\"运行结束或者yield后，再由ngx_http_lua_run_posted_threads去运行父协程。",
        "并没有优先级，只有一个先进先出的链表。spawn 把调用者追加到链表尾部，子线程得到第一个"
        "时间片。嵌套 spawn 时链表是 entry、t1、t2，所以 t3 阻塞后接着运行的是入口线程，"
        "排在它的子线程 t1 和 t2 之前。",
        "004-nested-spawn")

# %% [markdown]
# ## Step through it
# Use "next run_posted_thread" to jump between pops, and watch the `posted_threads` row of
# the request box.

# %% [markdown] zh
# ## 单步执行
# 在“要跳转到的事件类型”里选 `run_posted_thread`，用“下一个同类事件”在各次弹出之间跳转，留意请求框里 `posted_threads` 那一行。

# %%
ngxcoro.show(nested, nested_req)

# %% [markdown]
# ## Tweak: how deep the spawns go
# The slider sets how many levels of nested spawns there are (the deepest thread sleeps). The
# picture is the graph at the step where `posted_threads` is longest, just before the first
# pop. Each level adds one node at the tail, and the pops always start from the entry.

# %% [markdown] zh
# ## 调一调：spawn 嵌套多少层
# 滑块设定 spawn 嵌套的层数（最深的那个线程会 sleep）。图是 `posted_threads` 最长时（就在第一次弹出之前）那一步的状态图。每多一层，链表尾部就多一个节点，而弹出总是从入口线程开始。

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

Tweak(W["levels"], [1, 2, 3, 4], deepest, index=2)

# %% [markdown]
# ## With and without a sleep
# The child always runs first, **up to its first block or its end**. Whether it blocks
# decides whether the parent's next line comes before or after the child's last one.
# Scenario `003-spawn-sleep`, and the same code with the sleep taken out:

# %% [markdown] zh
# ## 有 sleep 与没有 sleep
# 子线程总是先运行，**一直运行到它第一次阻塞或者结束**。它是否阻塞，决定了父协程的下一行出现在子线程最后一行之前还是之后。下面是场景 `003-spawn-sleep`，以及去掉 sleep 后的同一段代码：

# %% check
sleepy, sleepy_req, _ = scenario("003-spawn-sleep")
for name, conf in [(W["with sleep"], sleepy),
                   (W["without"], sleepy.replace("ngx.sleep(0.05)", ""))]:
    r = ngxcoro.run(conf, sleepy_req, snapshots=True)
    pop = next(s for s in r.snapshots if s["event"] == "run_posted_thread")
    t1 = next(c for c in pop["coroutines"] if c["name"] == "t1")
    print(f"--- {name}\n{r.body}{queue_history(r)}")
    print(W["t1 is"].format(status=t1["status"])
          + (W["blocked in"].format(w=t1["waiting"]) if t1["waiting"] else ""))

# %% [markdown]
# Without the sleep the child ends inside the first `run_thread` call and the entry is popped
# afterwards; with it, the entry is popped while the child is still asleep. The timelines of
# the two runs (orange: waiting in `posted_threads`, pale green: blocked in `ngx.sleep`):

# %% [markdown] zh
# 没有 sleep 时，子线程在第一次 `run_thread` 调用里就结束了，入口线程在那之后才被弹出；有 sleep 时，入口线程被弹出时子线程还在 sleep。两次运行的时间线（橙色：在 `posted_threads` 里等待，浅绿色：阻塞在 `ngx.sleep` 中）：

# %%
Tweak(W["child"], W["child opts"],
      lambda v: timeline_svg(ngxcoro.run(sleepy if v == W["child opts"][0] else
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

# %% [markdown] zh
# ## 僵尸
# 轻线程结束时，如果它的父协程还活着、但并没有在等它（`ngx.thread.wait`），`run_thread` 就没法把结果交出去。它把结果留在子线程的栈上，把子线程标记为 `zombie`，并登记到父协程的僵尸链表里（`ngx_http_lua_util.c: ngx_http_lua_post_zombie_thread`；这和 `posted_threads` 是两个不同的链表）。僵尸仍然计入 `ctx->uthreads`。等父协程 wait 它、kill 它，或者父协程自己结束时，它才会消失。场景 `002-spawn-no-io`：

# %% check
zconf, zreq, _ = scenario("002-spawn-no-io")
zres = ngxcoro.run(zconf, zreq, snapshots=True)
print(zres.body)
print(W["zombie head"])
for s, after in zip(zres.snapshots, zres.snapshots[1:]):
    if s["event"] in ("user_thread_spawn", "zombie", "run_posted_thread", "thread_delete"):
        t1 = next(c["status"] for c in after["coroutines"] if c["name"] == "t1")
        what = s["event"] + " " + (s["data"].get("co") or s["data"]["child"])
        print(f"{s['step']:>4}  {what:<30} {t1:<11} {after['requests'][0]['ctx']['uthreads']}")

# %% [markdown]
# The entry found `t1` as a zombie when it asked. When the entry itself ended, its zombie
# was deleted first (`uthreads` 1 → 0), then the entry.

# %% [markdown] zh
# 入口线程查询时，`t1` 已经是僵尸了。入口线程自己结束时，先删除它的僵尸（`uthreads` 1 → 0），再删除入口线程。

# %%
BlogBox("When the light thread has run to its end, run_posted_threads runs the parent.",
        "The ended thread is not gone: its parent never waited, so it is a zombie that holds "
        "its return values and still counts in ctx->uthreads. ngx.thread.wait on it returns "
        "at once with those values; after that it is dead.",
        "009-wait-zombie")

# %% zh
BlogBox("\"light thread\"运行结束……后，再由ngx_http_lua_run_posted_threads去运行父协程。",
        "结束了的轻线程并没有消失：它的父协程从未等待它，所以它成了僵尸，保存着自己的返回值，"
        "并且仍然计入 ctx->uthreads。对它调用 ngx.thread.wait 会立刻带着这些值返回；"
        "之后它才变成 dead。",
        "009-wait-zombie")

# %% [markdown]
# **Previous:** [1 · Coroutines inside nginx](01-coroutines.ipynb) ·
# **Next:** [3 · run_posted_threads](03-run-posted-threads.ipynb) — the loop that pops
# `posted_threads`, and what it does with each return code.

# %% [markdown] zh
# **上一课：** [1 · nginx 中的协程](01-coroutines.ipynb) · **下一课：** [3 · run_posted_threads](03-run-posted-threads.ipynb)：弹出 `posted_threads` 的那个循环，以及它如何处理每一种返回值。
