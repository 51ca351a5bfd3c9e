# %% [markdown]
# # 13 · Semaphores
#
# `ngx.semaphore` comes from lua-resty-core (`ngx/semaphore.lua`), a thin FFI layer over
# `ngx_http_lua_semaphore.c`. One coroutine waits for a resource, another posts one. It
# looks like a direct hand-over, and it is not: `post` only **posts an event**, and the
# waiter runs later, from nginx's event loop, after the poster has yielded or ended.
#
# You will see:
# 1. `wait`: the fast path, the queue, the timeout, and `count()`;
# 2. `post`: who prints first, the poster or the waiter, and why;
# 3. FIFO order, no overtaking, and what happens to a waiter that is killed.
#
# **Previous:** [12 · Client abort and ngx.on_abort](12-client-abort.ipynb) ·
# **Next:** [14 · Capstone](14-capstone.ipynb)

# %% [markdown] zh
# # 13 · 信号量
#
# `ngx.semaphore` 来自 lua-resty-core（`ngx/semaphore.lua`），是 `ngx_http_lua_semaphore.c` 之上薄薄的一层 FFI。一个协程等待资源，另一个协程 post 一个资源。看起来像是当面交接，其实不是：`post` 只**投递一个事件**，等待者要等发布者让出或结束之后，才由 nginx 的事件循环唤醒。
#
# 本课内容：
# 1. `wait`：快速路径、等待队列、超时，以及 `count()`；
# 2. `post`：发布者和等待者谁先输出，为什么；
# 3. 先进先出、不许插队，以及等待中的协程被杀掉时会怎样。
#
# **上一课：** [12 · 客户端中断与 ngx.on_abort](12-client-abort.ipynb) · **下一课：** [14 · 综合练习：调试一个真实的顺序 bug](14-capstone.ipynb)

# %%
import json
import pathlib
import sys

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario

WORDS = {"say": "say:", "queues": "{co} queues on {sem} and yields",
         "post": "{sem}:post({n}): {resources} resources + {n}, {waiters} waiting",
         "post_event": "ngx_post_event: {sem}'s wake-up joins ngx_posted_events",
         "handler": "posted event: ngx_http_lua_sema_handler for {sem} ({resources} resources)",
         "wake": "{co} gets a resource and is resumed: true, nil",
         "timeout": "{co}'s wait times out: false, \"timeout\"",
         "ends": "{co} ends",
         "same": "real nginx (scenario {name}) printed the same",
         "differs": "real nginx (scenario {name}) printed:\n{body}",
         "posts": "the entry thread posts",
         "debug": "real nginx's debug log, from the post to the wake-up:"}


def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

# %% zh
import json
import pathlib
import sys

import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario

set_language("zh")
WORDS = {"say": "输出:", "queues": "{co} 在 {sem} 上排队并让出",
         "post": "{sem}:post({n})：资源 {resources} + {n}，{waiters} 个在等",
         "post_event": "ngx_post_event：{sem} 的唤醒事件进入 ngx_posted_events",
         "handler": "投递的事件：ngx_http_lua_sema_handler 处理 {sem}（资源 {resources}）",
         "wake": "{co} 拿到资源，被恢复：true, nil",
         "timeout": "{co} 等待超时：false, \"timeout\"",
         "ends": "{co} 结束",
         "same": "真实的 nginx（场景 {name}）输出相同",
         "differs": "真实的 nginx（场景 {name}）输出：\n{body}",
         "posts": "入口线程 post 的个数",
         "debug": "真实 nginx 的调试日志，从 post 到唤醒："}


def report(*lines):
    """把这些行一次写出（只写一次，保存的输出才是字节稳定的）。"""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

# %% [markdown]
# ## wait
# A semaphore (`ngx_http_lua_sema_t`) has `resource_count`, a `wait_queue` of coroutines and
# one event, `sem_event`. `sema:count()` is `resource_count - wait_count`, so it goes
# negative while coroutines wait. `sema:wait(timeout)` ends in
# `ngx_http_lua_ffi_sema_wait`:
#
# * **fast path**: nobody waits and there is a resource: take it and return `true` at once,
#   no yield;
# * `wait(0)` with nothing to take: `nil, "timeout"` at once;
# * otherwise: append the coroutine to the wait queue, arm its timeout on the same timer
#   `ngx.sleep` uses, and yield. It comes back with `true, nil`, or `false, "timeout"`
#   when `ngx_http_lua_sema_timeout_handler` fires first.
#
# Scenario 552 stays on the fast path; 561 waits 100 ms for nothing:

# %% [markdown] zh
# ## wait
# 信号量（`ngx_http_lua_sema_t`）有 `resource_count`、一个协程的等待队列 `wait_queue` 和一个事件 `sem_event`。`sema:count()` 等于 `resource_count - wait_count`，所以有协程在等时它是负数。`sema:wait(timeout)` 最终调用 `ngx_http_lua_ffi_sema_wait`：
#
# * **快速路径**：没人在等并且有资源：拿走一个，立即返回 `true`，不让出；
# * 没有资源时 `wait(0)`：立即返回 `nil, "timeout"`；
# * 否则：把协程加到等待队列末尾，用 `ngx.sleep` 的同一个定时器设好超时，然后让出。回来时得到 `true, nil`；如果 `ngx_http_lua_sema_timeout_handler` 先到期，则得到 `false, "timeout"`。
#
# 场景 552 一直走快速路径；561 白等了 100 ms：

# %% check
def compare(name):
    """The model's body for a scenario, and whether real nginx printed the same."""
    text, request, rec = scenario(name)
    res = ngxcoro.run(text, request)
    verdict = (WORDS["same"].format(name=name) if res.body == rec["body"]
               else WORDS["differs"].format(name=name, body=rec["body"]))
    return f"--- {name}\n{res.body}{verdict}"


def trail(res):
    """The run in a few lines: what the Lua code printed, and the semaphore's steps."""
    out, printed = [], ""
    for s in res.snapshots:
        now = s["output"]["sent"] + s["output"]["held"]
        if now.startswith(printed) and len(now) > len(printed):
            out += [f"{s['t_ms']:>4} ms  {WORDS['say']} {line}"
                    for line in now[len(printed):].splitlines()]
            printed = now
        e, d = s["event"], s["data"]
        if e == "sema_wait_yield":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["queues"].format(**d))
        elif e == "sema_post":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["post"].format(**d))
        elif e == "post_event" and "sem" in d:
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["post_event"].format(**d))
        elif e == "sema_handler":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["handler"].format(**d))
        elif e == "sema_wake":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["wake"].format(**d))
        elif e == "sema_timeout":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["timeout"].format(**d))
        elif e == "thread_ended":
            out.append(f"{s['t_ms']:>4} ms  " + WORDS["ends"].format(**d))
    return "\n".join(out)


report(compare("552-sema-fast-path"), compare("561-sema-entry-timeout"))

# %% [markdown]
# ## post
# `sema:post(n)` (`ngx_http_lua_ffi_sema_post`) adds `n` to `resource_count` and, if the
# queue is not empty, calls `ngx_post_event(&sem->sem_event, &ngx_posted_events)`. That is
# all: **nobody is resumed inside `post`**, and the poster carries on. The waiters run when
# nginx's event loop reaches its posted events (`ngx_event_process_posted`, after the I/O
# events and the timers of the same turn): `ngx_http_lua_sema_handler` pops waiters from the
# head of the queue while there are resources, and resumes each one in its own request
# through `ngx_http_lua_sema_resume`.
#
# Scenario 1191 (recorded for this lesson): a light thread waits, the entry thread posts one
# resource and prints two more lines.

# %% [markdown] zh
# ## post
# `sema:post(n)`（`ngx_http_lua_ffi_sema_post`）把 `n` 加到 `resource_count` 上；如果队列不空，就调用 `ngx_post_event(&sem->sem_event, &ngx_posted_events)`。仅此而已：**`post` 里不恢复任何协程**，发布者继续运行。等待者要等 nginx 的事件循环处理投递的事件时才运行（`ngx_event_process_posted`，在同一轮的 I/O 事件和定时器之后）：`ngx_http_lua_sema_handler` 只要还有资源，就从队列头部取出等待者，经 `ngx_http_lua_sema_resume` 在它自己的请求里恢复它。
#
# 场景 1191（为本课录制）：一个轻线程在等，入口线程 post 一个资源，然后再输出两行。

# %%
text1191, request1191, rec1191 = scenario("1191-sema-poster-runs-first")
print(text1191.split("\n\n", 1)[1])

# %% predict
Predict("The entry thread has just called <code>sema:post(1)</code>, and the light thread is "
        "the only waiter. Which line is printed right after <code>poster: count=-1, post</code>?",
        ["waiter: woken true nil, count=0", "poster: after post, count=0",
         "poster: after post, count=1"],
        "poster: after post, count=0",
        "post only adds the resource and posts the semaphore's event; the poster runs on until "
        "it yields or ends. count() is resource_count - wait_count = 1 - 1 = 0, since the "
        "waiter is still in the queue. The waiter runs from the posted event, after the entry "
        "thread has ended.")

# %% predict zh
Predict("入口线程刚调用了 <code>sema:post(1)</code>，那个轻线程是唯一的等待者。"
        "紧接在 <code>poster: count=-1, post</code> 之后输出的是哪一行？",
        ["waiter: woken true nil, count=0", "poster: after post, count=0",
         "poster: after post, count=1"],
        "poster: after post, count=0",
        "post 只是加上资源、投递信号量的事件；发布者一直运行到让出或结束。count() 是 "
        "resource_count - wait_count = 1 - 1 = 0，因为等待者还在队列里。等待者要等入口线程"
        "结束之后，才由投递的事件唤醒。")

# %% check answer
def nginx_debug(name, first, last):
    """Real nginx's debug log of a scenario (as recorded), from `first` to `last`."""
    path = pathlib.Path(ngxcoro.__file__).parent / "oracle/scenarios/expected/logs" / f"{name}.json"
    lines = json.loads(path.read_text())["debug_lines"]
    i = next(k for k, l in enumerate(lines) if first in l)
    j = next(k for k, l in enumerate(lines) if k > i and last in l)
    return "\n".join("    " + l for l in lines[i:j + 2])


poster = ngxcoro.run(text1191, request1191, snapshots=True)
report(trail(poster), "", compare("1191-sema-poster-runs-first"), WORDS["debug"],
       nginx_debug("1191-sema-poster-runs-first", "semaphore post", "semaphore handler"))

# %% [markdown]
# The wake-up came after the entry thread ended, after the content handler returned
# (`finalize_request(r, NGX_DONE)` parks the request), in the posted-events step of the same
# loop turn. A woken coroutine runs in its own request's context, which is why one
# semaphore can hand resources between requests and timers (scenario 651: a timer posts, the
# request that made it is woken after the timer's run).

# %% [markdown] zh
# 唤醒发生在入口线程结束、content 处理函数返回（`finalize_request(r, NGX_DONE)` 让请求停下等待）之后，在同一轮事件循环处理投递的事件那一步。被唤醒的协程在它自己请求的上下文里运行，所以一个信号量可以在不同请求和定时器之间传递资源（场景 651：定时器 post，创建它的请求在定时器运行完之后被唤醒）。

# %%
BlogBox("sema:post() wakes up a waiting thread.",
        "It only counts the resource and posts one event (`ngx_post_event`); the poster "
        "runs on until it yields or ends, and the waiter is resumed later from "
        "`ngx_http_lua_sema_handler`.",
        "1191-sema-poster-runs-first", says="belief")

# %% zh
BlogBox("sema:post() 会唤醒一个等待的线程。",
        "它只是记下资源、投递一个事件（`ngx_post_event`）；发布者一直运行到让出或结束，"
        "等待者之后才由 `ngx_http_lua_sema_handler` 恢复。",
        "1191-sema-poster-runs-first", says="belief")

# %% [markdown]
# Even yielding right after the post does not hand over at once. `ngx.sleep(0)` is a 0 ms
# timer, and timers expire **before** the posted events in a loop turn, so the sleeping
# poster is resumed first (scenario 551; nginx also warns
# `ngx.sleep(0) called without delayed events patch`):

# %% [markdown] zh
# 就算 post 之后马上让出，也不会立刻交接。`ngx.sleep(0)` 是一个 0 ms的定时器，而一轮事件循环里定时器在投递的事件**之前**处理，所以 sleep 的发布者先被恢复（场景 551；nginx 还会警告 `ngx.sleep(0) called without delayed events patch`）：

# %% check
report(compare("551-sema-post-then-sleep0"))

# %%
BlogBox("Call ngx.sleep(0) after sema:post() to let the waiter run.",
        "The 0 ms timer fires in the timers step, before the posted events: the poster runs "
        "again first and prints an empty order; the waiters come after it.",
        "551-sema-post-then-sleep0", says="belief")

# %% zh
BlogBox("sema:post() 之后调用 ngx.sleep(0)，让等待者先运行。",
        "0 ms的定时器在处理定时器那一步到期，早于投递的事件：发布者先再次运行，输出的 order "
        "是空的；等待者在它之后才运行。",
        "551-sema-post-then-sleep0", says="belief")

# %% [markdown]
# ## Step through it
# Scenario 550: three light threads wait (A and B for 1 s, C for 50 ms), the entry thread
# posts 2 and sleeps. The semaphore box shows the resources, the queue and whether its event
# is posted. Jump to `sema_post`, then to `sema_handler`: A and B are popped from the head,
# C stays until its timeout.

# %% [markdown] zh
# ## 单步执行
# 场景 550：三个轻线程在等（A 和 B 等 1 秒，C 等 50 ms），入口线程 post 2 个资源后 sleep。信号量的方框里画着资源数、等待队列，以及它的事件是否已投递。跳到 `sema_post`，再跳到 `sema_handler`：A 和 B 从队列头部被取出，C 一直留到超时。

# %%
text550, request550, _ = scenario("550-sema-fifo-post-fewer")
ngxcoro.show(text550, request550)

# %% [markdown]
# ## Tweak: posts and waiters
# Three light threads A, B, C (`t1`, `t2`, `t3` in the model's lines) wait with a 100 ms timeout; the entry thread posts 0 to 4
# resources in one call (scenarios 1192 to 1196, recorded for this lesson). The handler
# wakes waiters from the head while resources last: the first ones in the queue win, the
# others time out one by one, and what is left over stays in the semaphore for the next
# `wait`.

# %% [markdown] zh
# ## 调一调：post 的个数与等待者
# 三个轻线程 A、B、C（模型输出里叫 `t1`、`t2`、`t3`）各以 100 ms超时等待；入口线程一次 post 0 到 4 个资源（场景 1192 到 1196，为本课录制）。处理函数在资源用完之前从队列头部依次唤醒：排在前面的先拿到，其余的逐个超时，剩下的资源留在信号量里给下一个 `wait`。

# %%
TWEAK = {0: "1192-sema-three-waiters-post-0", 1: "1193-sema-three-waiters-post-1",
         2: "1196-sema-three-waiters-post-2", 3: "1194-sema-three-waiters-post-3",
         4: "1195-sema-three-waiters-post-4"}


def view(n):
    text, request, _ = scenario(TWEAK[n])
    res = ngxcoro.run(text, request, snapshots=True)
    return pre(trail(res) + "\n\n" + compare(TWEAK[n]))


Tweak(WORDS["posts"], list(TWEAK), view, index=1)

# %% [markdown]
# ## First come, first served
# The queue is strictly FIFO and a newcomer never overtakes it. In scenario 553 the entry
# thread posts 2 while one light thread waits. The event is posted but has not run, so
# `resource_count` is 2 and the queue is not empty: the entry's `wait(0)` gets
# `nil, "timeout"` (no fast path while anyone waits), and its `wait(1)` queues **behind** the
# light thread. The one posted event then wakes both, in queue order.

# %% [markdown] zh
# ## 先来先得
# 队列严格先进先出，后来者决不插队。场景 553 里，一个轻线程在等，入口线程 post 2 个资源。事件已投递但还没处理，所以 `resource_count` 是 2、队列不空：入口线程的 `wait(0)` 得到 `nil, "timeout"`（只要有人在等就没有快速路径），它的 `wait(1)` 排在轻线程**后面**。随后那一个投递的事件按队列顺序唤醒了两者。

# %% check
report(compare("553-sema-no-overtaking"))

# %% [markdown]
# ## A waiter that goes away
# Killing a waiting thread, `ngx.exit`, or the end of its request runs the coroutine's
# cleanup, `ngx_http_lua_sema_cleanup`: it leaves the queue and its timer is deleted, but the
# resources are not touched. In scenario 554 the waiter is killed, and a later post keeps
# its resource for `wait(0)`. In 568 the entry posts and calls `ngx.exit(200)` before the
# posted event runs: the handler finds an empty queue and wakes nobody.

# %% [markdown] zh
# ## 等待者走了
# 杀掉正在等待的线程、`ngx.exit`、或者它所在的请求结束，都会运行协程的清理函数 `ngx_http_lua_sema_cleanup`：它离开队列，定时器被删除，但资源数不变。场景 554 里等待者被杀，之后 post 的资源留给了 `wait(0)`。568 里入口线程 post 之后、投递的事件运行之前就调用了 `ngx.exit(200)`：处理函数看到队列是空的，谁也没唤醒。

# %% check
report(compare("554-sema-kill-waiter"), compare("568-sema-exit-after-post"))

# %% [markdown]
# **Next:** [14 · Capstone](14-capstone.ipynb) — timers, sockets, semaphores and aborts
# together.

# %% [markdown] zh
# **下一课：** [14 · 综合练习：调试一个真实的顺序 bug](14-capstone.ipynb)：定时器、套接字、信号量和客户端中断放在一起。
