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

# %% [markdown] zh
# # 3 · run_posted_threads
#
# 第 2 课把 `ctx->posted_threads` 填满了，本课把它清空。做这件事的循环是 `ngx_http_lua_util.c: ngx_http_lua_run_posted_threads`，博客第六篇正是以这个函数命名的。它每转一圈：
#
# 1. 如果连接已销毁（`c->destroyed`），或者已经转去处理另一个请求（`c->requests != nreqs`），就返回 `NGX_DONE` 停下；
# 2. 弹出表头节点；没有节点就返回 `NGX_DONE` 停下；
# 3. 如果节点对应协程的状态不是 `running`，就跳过它；
# 4. 把它设为 `ctx->cur_co_ctx`，调用 `run_thread`；
# 5. 根据返回值行动：`NGX_AGAIN` → 再转一圈；`NGX_DONE` → 用 `ngx_http_lua_finalize_request(r, NGX_DONE)` 归还一个引用，再转一圈；其他值（`NGX_OK`、`NGX_ERROR`、HTTP 状态码）→ 如果是 content 阶段就用它结束请求，然后返回它。
#
# content 处理函数有它自己的一个变体，放在本课最后讲。
#
# **上一课：** [2 · ngx.thread.spawn 与 post_thread](02-spawn-post-thread.ipynb) · **下一课：** [4 · 返回值](04-return-codes.ipynb)

# %%
import inspect
import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import util, by
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario, count_history
from ngxcoro.viz.timeline import timeline_svg

# the words the helpers below print (the Chinese notebook has its own)
W = {"pops head": "step  loop                        popped  status   left       run_thread -> loop",
     "skipped": "skipped", "continue": "continue", "n++": "n++, continue",
     "finalize": "finalize(r, NGX_DONE), continue", "return": "return it",
     "yields": "yields; queue", "re-posted": "re-posted, queue now ",
     "queue empty": "queue empty: goes on at once",
     "still queued": "still queued when the ctx was last seen:", "pops": "pops:",
     "destroyed": "c->destroyed at the end:",
     "parked": "--- the exec comes from a posted run, and the target parks:",
     "workers": "workers"}

print(inspect.getsource(util.run_posted_threads))

# %% zh
import inspect
import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import util, by
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import Predict, Tweak, BlogBox, pre, scenario, count_history
from ngxcoro.viz.timeline import timeline_svg
set_language("zh")

W = {"pops head": "步骤  循环                        弹出    状态     剩余       run_thread -> 循环",
     "skipped": "跳过", "continue": "继续", "n++": "n++，继续",
     "finalize": "finalize(r, NGX_DONE)，继续", "return": "返回它",
     "yields": "让出；链表", "re-posted": "重新投递，现在链表为 ",
     "queue empty": "链表为空：立刻继续",
     "still queued": "最后一次看到 ctx 时仍在排队：", "pops": "弹出次数：",
     "destroyed": "最后的 c->destroyed：",
     "parked": "--- exec 出自从链表取出的一次运行，跳转目标阻塞：",
     "workers": "worker 数"}

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

# %% [markdown] zh
# 谁调用它：rewrite 和 access 处理函数在第一次 `run_thread` 之后调用它（`ngx_http_lua_accessby.c: ngx_http_lua_access_by_chunk`，在得到 `NGX_AGAIN` 或 `NGX_DONE` 时），每一次唤醒也会调用它，例如定时器到期后的 `ngx_http_lua_sleep.c: ngx_http_lua_sleep_resume`。`nreqs` 是就在那次 `run_thread` 之前读到的 `c->requests`。
#
# ## 弹出日志
# 一次运行的事件里记录了每一次弹出（`run_posted_thread`，即模块里同名的探针）和每一次 `run_thread` 的返回（`run_thread_returned`），每个事件都带着它发生所在的 C 函数。所以 `run_logged` 带快照运行，并把每次弹出的 running 线程，与循环为它发起的那次 `run_thread` 的返回配成对（用一个栈，因为一个线程可能启动一个嵌套的处理函数，后者有它自己的循环）。

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
    rows = [W["pops head"]]
    for s in res.snapshots:
        if s["event"] != "run_posted_thread":
            continue
        loop = s["where"]["c_function"].replace("ngx_http_lua_", "")
        left = ", ".join(s["requests"][0]["ctx"]["posted_threads"]) or "-"
        status = s["data"]["status"]
        if status != "running":
            move = W["skipped"]
        else:
            rc = next(rcs)
            move = rc_name(rc) + " -> " + (
                W["continue"] if rc == -2 else
                (W["n++"] if loop.startswith("content") else
                 W["finalize"]) if rc == -4 else W["return"])
        rows.append(f"{s['step']:>4}  {loop:<27} {s['data']['co']:<7} {status:<8} {left:<10} {move}")
    return "\n".join(rows)

# %% [markdown]
# An access handler with two light threads that take a time slice each
# (`coroutine.yield()`, see the end of the lesson). The entry kills `t2` while `t2`'s node is
# still queued, then sleeps.

# %% [markdown] zh
# 一个 access 处理函数，带两个各自让出一个时间片的轻线程（`coroutine.yield()`，见本课最后）。入口线程在 `t2` 的节点还在链表里时杀掉了 `t2`，然后 sleep。

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

# %% [markdown] zh
# 每次运行都以 `NGX_AGAIN` 结束（一次让出、一个僵尸、一次 sleep），所以循环每次都再转一圈。杀掉 `t2` 之后，它的节点仍在链表里：除了弹出，没有任何操作会删除节点。让这件事无害的是第 3 步的状态检查：`t2` 是 `dead`，于是被跳过，链表空了，循环返回 `NGX_DONE`。access 处理函数把它交给 nginx 的阶段引擎，后者让请求停下等待，直到定时器触发。
#
# ## 单步执行

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

# %% [markdown] zh
# ## 状态检查也有不够用的时候
# 这个检查假定：协程状态为 `running` 的节点属于一个活着的线程。但入口线程的 co ctx 只是 **Lua ctx 里的一个结构体**，每个处理函数都把它清零后重用（第 1 课），而 `ngx_http_lua_reset_ctx` 并不清空 `posted_threads`。场景 `077-stale-posted-entry`：在 access 阶段，一个轻线程立刻调用 `ngx.exit(ngx.OK)`，而此时入口线程还在链表里。access 处理函数结束了，它排队的入口线程节点却留了下来。

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

# %% predict zh
Predict("在 content 阶段，<code>ngx.sleep(0.1)</code> 让新的入口线程阻塞。"
        "接下来会发生什么？",
        ["按要求 sleep 0.1 秒",
         "content_run_posted_threads 弹出旧节点，立刻恢复入口线程",
         "旧节点作为 dead 被跳过",
         "nginx 记录一条错误日志"],
        "content_run_posted_threads 弹出旧节点，立刻恢复入口线程",
        "旧节点指向 <code>entry_co_ctx</code>，而它现在装着 content 阶段的入口线程，状态是 "
        "<code>running</code>。循环分辨不出这是个过期节点，于是恢复了它："
        "<code>ngx.sleep</code> 不带任何返回值就返回了，它的定时器在入口线程结束时被取消。")

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

# %% zh
BlogBox("ngx_http_lua_run_posted_threads 会跳过所有状态不是 RUNNING 的已投递线程，"
        "所以已经不存在的线程永远不会被运行。",
        "前一个处理函数留下的节点，可能指向下一个处理函数的入口线程，而它又是 RUNNING 了。"
        "content 阶段的 ngx.sleep(0.1) 立刻就返回了。",
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

# %% [markdown] zh
# ## NGX_DONE、c->destroyed 和 c->requests
# 调用 `ngx_http_lua_finalize_request(r, NGX_DONE)` 之后，请求可能已经不在了：被释放了（`c->destroyed`），或者在 keepalive 连接上已经被下一个请求取代（`c->requests` 不再等于 `nreqs`）。无论哪种情况，`ctx` 都指向已释放的内存，所以循环必须在弹出之前停下。场景 `141-exec-access-thread-destroyed`：access 阶段的一个轻线程在入口线程排队时调用 `ngx.exec`，跳转到一个 `echo` location。`run_thread` 返回 `NGX_DONE`，access 处理函数归还引用，请求被释放，`run_posted_threads` 在第一个检查处就返回了。（第 5 课会沿着 `r->count` 细看这个过程。）下面还有一个不在已录制场景里的变体：`ngx.exec` 由入口线程发出，而入口线程是*由循环*运行的，跳转目标会 sleep。请求在 `finalize(r, NGX_DONE)` 之后依然存活，所以循环继续，并跳过了被 exec 杀掉的 `t1`（可对照场景 `142-exec-access-thread-target-sleeps`）。

# %% check
dconf, dreq, _ = scenario("141-exec-access-thread-destroyed")
dres = ngxcoro.run(dconf, dreq, snapshots=True)
print(dres.body)
print(count_history(dres))
queued = [s["requests"][0]["ctx"]["posted_threads"] for s in dres.snapshots if s["requests"][0]["ctx"]]
print(W["still queued"], queued[-1])
print(W["pops"], sum(s["event"] == "run_posted_thread" for s in dres.snapshots))
print(W["destroyed"], dres.snapshots[-1]["requests"][0]["destroyed"])

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
print(W["parked"], pres.body.strip())
print(pop_log(pres, prcs))

# %%
BlogBox("The loop checks c->destroyed before each pop: if finalize_request(r, NGX_DONE) "
        "freed the request, the loop returns.",
        "0.10.23 checks `c->destroyed || c->requests != nreqs`. The second half covers a "
        "keepalive connection that already serves the next request (this runner uses one "
        "request per connection, so only the first half is recorded).",
        "141-exec-access-thread-destroyed")

# %% zh
BlogBox("循环在每次弹出前检查 c->destroyed：如果 finalize_request(r, NGX_DONE) "
        "释放了请求，循环就返回。",
        "0.10.23 检查的是 `c->destroyed || c->requests != nreqs`。后半句针对的是已经在处理"
        "下一个请求的 keepalive 连接（这里的运行器每个连接只发一个请求，所以录制到的只有前半句）。",
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

# %% [markdown] zh
# ## content 处理函数自己的循环
# `ngx_http_lua_contentby.c: ngx_http_lua_content_run_posted_threads` 只在 content 处理函数的第一次 `run_thread` 之后运行（定时器也用它）。它有三点不同：
#
# * 没有 `c->destroyed` / `nreqs` 检查；
# * `NGX_DONE` 不立刻归还，而是计入 `n`（如果调用者自己的 `run_thread` 已经返回了 `NGX_DONE`，调用时就传入 `n = 1`）；
# * 链表空了而 `n == 0` 时，它执行 `r->main->count++` 并返回 `NGX_DONE`：正是这个引用在 Lua 停下等待期间让请求保持存活，而 `ngx_http_core_content_phase` 会立刻用 `finalize_request(r, NGX_DONE)` 把它还回去。

# %%
print(inspect.getsource(by.content_run_posted_threads))

# %% [markdown]
# The count history of a content phase that parks (scenario `003-spawn-sleep`), and of one
# whose first `run_thread` returned `NGX_DONE` from an `ngx.exec` (scenario
# `143-exec-content-thread-named`; its queued entry is dead and skipped, so `n` stays 1):

# %% [markdown] zh
# 下面是一个会停下等待的 content 阶段（场景 `003-spawn-sleep`）的引用计数历史，以及一个第一次 `run_thread` 因 `ngx.exec` 而返回 `NGX_DONE` 的 content 阶段（场景 `143-exec-content-thread-named`；它排队的入口线程已经 dead，被跳过，所以 `n` 保持为 1）：

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

# %% [markdown] zh
# ## 轻线程里的 coroutine.yield 是一个时间片
# 在入口线程或轻线程里，`coroutine.yield()` 没有可以回去的恢复者。`run_thread`（`USER_CORO_YIELD` 分支）丢掉让出的值，把状态设回 `running`，然后：
#
# * 如果 `posted_threads` **不为空**：把这个线程投递到链表尾部并返回 `NGX_AGAIN`，让排队的线程都先运行；
# * 如果为空：立刻恢复同一个线程，`coroutine.yield()` 什么也不返回。
#
# 场景 `041-yield-time-slice`：两个 worker 和入口线程轮流运行。在 `042-yield-entry-alone` 中，入口线程让出两次，一次链表为空，一次有一个子线程在排队。

# %%
def slices(res):
    """What run_thread did at each coroutine.yield in a thread."""
    snaps, rows = res.snapshots, []
    for s, nxt in zip(snaps, snaps[1:]):
        if s["event"] == "thread_yield":
            queue = s["requests"][0]["ctx"]["posted_threads"]
            act = (W["re-posted"] + ", ".join(nxt["requests"][0]["ctx"]["posted_threads"])
                   if nxt["event"] == "post_thread" else W["queue empty"])
            rows.append(f"{s['step']:>4}  {s['data']['co']:<6} {W['yields']} {', '.join(queue) or '-':<10} {act}")
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

# %% [markdown] zh
# ## 调一调：几个 worker
# 同样的结构，0 到 3 个 worker（每个打印并让出两次），入口线程让出一次。没有 worker 时，入口线程的让出遇到的是空链表，直接继续；worker 越多，每次让出都要排到越长的队伍后面。时间线里的橙色表示“在 `posted_threads` 里等待”。

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

Tweak(W["workers"], [0, 1, 2, 3], workers, index=2)

# %% [markdown]
# You can now read `run_posted_threads` line by line: the two stop conditions, the pop, the
# status check (and its blind spot), the `run_thread` call, and the three ways it answers a
# return code; and tell it apart from the content handler's loop.
#
# **Previous:** [2 · ngx.thread.spawn and post_thread](02-spawn-post-thread.ipynb) ·
# **Next:** [4 · The return codes](04-return-codes.ipynb) — what each phase handler does with
# what `run_thread` and this loop return.

# %% [markdown] zh
# 现在你可以逐行读懂 `run_posted_threads` 了：两个停止条件、弹出、状态检查（以及它的盲区）、`run_thread` 调用，以及它对返回值的三种处理；也能把它和 content 处理函数的循环区分开。
#
# **上一课：** [2 · ngx.thread.spawn 与 post_thread](02-spawn-post-thread.ipynb) · **下一课：** [4 · 返回值](04-return-codes.ipynb)：每个阶段处理函数如何处理 `run_thread` 和这个循环的返回值。
