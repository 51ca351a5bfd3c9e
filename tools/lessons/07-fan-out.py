# %% [markdown]
# # 7 · Fan-out: two subrequests at once
#
# **Previous:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb) ·
# **Next:** [8 · Lab: your Lua, the model and real nginx](08-lab.ipynb)
#
# The everyday reason to spawn light threads: ask two backends at the same time and wait for
# both. Here each light thread calls `ngx.location.capture` on a location that answers after
# an `echo_sleep` (50 ms and 20 ms), and the entry thread waits for the two threads.
#
# One mechanism matters here: **how a finished subrequest wakes the coroutine that is waiting
# for it.** It is a separate path from `posted_threads`. The waiting coroutine is resumed
# through nginx's *posted requests*, from `ngx_http_lua_post_subrequest`
# (`src/ngx_http_lua_subrequest.c`).

# %% [markdown] zh
# # 7 · 扇出：同时发出两个子请求
#
# 日常使用轻线程最常见的理由：同时请求两个后端，再等两者都返回。这里每个轻线程对一个 location 调用 `ngx.location.capture`，该 location 在一次 `echo_sleep` 之后应答（分别是 50 ms 和 20 ms），入口线程则等待这两个轻线程。
#
# 这里关键的机制只有一个：**子请求完成后，怎样唤醒正在等它的协程。** 这条路径和 `posted_threads` 是分开的。等待中的协程是通过 nginx 的*投递的请求*（posted requests）恢复的，入口在 `ngx_http_lua_post_subrequest`（`src/ngx_http_lua_subrequest.c`）。
#
# **上一课：** [6 · wait、kill、exit 与错误](06-wait-kill-exit-errors.ipynb) · **下一课：** [8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb)

# %% check
import ngxcoro
from ngxcoro.viz.lessons import (Predict, Tweak, BlogBox, SVG, pre, scenario,
                                 count_history, count_chart_svg)
from ngxcoro.oracle import count_history as nginx_count_history

# the words the cells below print (the Chinese notebook has its own)
W = {"model": "model:          ", "recorded": "nginx recorded: ",
     "tweak": "echo_sleep of /sub_sleep2 (s)", "same": "same as real nginx: "}

conf, request, recording = scenario("162-capture-fan-out")   # ngxcoro/oracle/scenarios/162-*.ngx
print(conf[conf.index("location /t"):conf.index("location /sub_lua")])

# %% check zh
import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import (Predict, Tweak, BlogBox, SVG, pre, scenario,
                                 count_history, count_chart_svg)
from ngxcoro.oracle import count_history as nginx_count_history

set_language("zh")
W = {"model": "模型：        ", "recorded": "nginx 录制：  ",
     "tweak": "/sub_sleep2 的 echo_sleep（秒）", "same": "与真实 nginx 相同："}

conf, request, recording = scenario("162-capture-fan-out")   # ngxcoro/oracle/scenarios/162-*.ngx
print(conf[conf.index("location /t"):conf.index("location /sub_lua")])

# %% [markdown]
# `/sub_sleep` answers after 50 ms and `/sub_sleep2` after 20 ms (`echo_sleep 0.05;` and
# `echo_sleep 0.02;`, further down in the same file).

# %% [markdown] zh
# `/sub_sleep` 在 50 ms 后应答，`/sub_sleep2` 在 20 ms 后应答（同一文件更下面的 `echo_sleep 0.05;` 和 `echo_sleep 0.02;`）。

# %% check
res = ngxcoro.run(conf, request, snapshots=True)
print(f"{res.status}\n{res.body}")

# %% [markdown]
# The `fetched` lines come out in the order the backends **finished**: 20 ms before 50 ms.
# The `wait` lines come out in the order of the **code**. The two requests really ran at the
# same time: the whole response took 50 ms of virtual time, not 70.
#
# ## r->count climbs once per subrequest
# `ngx_http_lua_subrequest` (`src/ngx_http_lua_subrequest.c`) does `r->main->count++` for
# every subrequest it creates. `ngx.location.capture` then yields with `co_op` NOP, so
# `run_thread` returns `NGX_AGAIN` and the entry thread is popped from `posted_threads`
# as usual.
#
# One more reference comes from the content handler. When the entry thread parks,
# `ngx_http_lua_content_run_posted_threads` (`src/ngx_http_lua_contentby.c`) adds one to keep
# the request alive.

# %% [markdown] zh
# `fetched` 这几行按后端**完成**的顺序输出：20 ms 的在 50 ms 的前面。`wait` 这几行则按**代码**的顺序输出。两个请求确实是同时进行的：整个响应用了 50 ms 的虚拟时间，而不是 70 ms。
#
# ## 每个子请求让 r->count 加一
# `ngx_http_lua_subrequest`（`src/ngx_http_lua_subrequest.c`）每创建一个子请求就做一次 `r->main->count++`。然后 `ngx.location.capture` 以 `co_op` NOP 让出，于是 `run_thread` 返回 `NGX_AGAIN`，入口线程照常从 `posted_threads` 里被取出。
#
# 还有一份引用来自 content 处理函数。入口线程阻塞时，`ngx_http_lua_content_run_posted_threads`（`src/ngx_http_lua_contentby.c`）加一，让请求保持存活。

# %% predict
Predict("When the main request <code>/t</code> parks (its first "
        "<code>finalize_request(r, NGX_DONE)</code>), what does nginx log as <code>c:</code>?",
        ["2", "3", "4", "5"], "4",
        "1 for the client's request, +1 for each of the two subrequests, and +1 that "
        "content_run_posted_threads takes when the entry thread parks. "
        "<code>finalize_request(r, NGX_DONE)</code> then gives that last one back.")

# %% predict zh
Predict("主请求 <code>/t</code> 停下等待时（它的第一次 <code>finalize_request(r, NGX_DONE)</code>），"
        "nginx 日志里的 <code>c:</code> 是多少？",
        ["2", "3", "4", "5"], "4",
        "客户端的请求本身算 1，两个子请求各 +1，入口线程阻塞时 content_run_posted_threads "
        "再 +1。随后 <code>finalize_request(r, NGX_DONE)</code> 把最后这一份还回去。")

# %% check answer
print(f"{W['model']}{ngxcoro.oracle.model_count_history(res.events)[0]}\n"
      f"{W['recorded']}{nginx_count_history(recording['debug'])[0]}")

# %% [markdown]
# The whole story of `r->count`, as the model tells it. The echo module holds a reference of
# its own while `echo_sleep` waits (`+1 ... echo handler waits`). Each subrequest that
# finishes gives one back (`subrequest ... done`).

# %% [markdown] zh
# 下面是模型讲述的 `r->count` 的完整经过。`echo_sleep` 等待期间，echo 模块自己也持有一份引用（`+1 ... echo handler waits`）。每个完成的子请求还回一份（`subrequest ... done`）。

# %% check
print(count_history(res))

# %%
SVG(count_chart_svg(res))

# %% [markdown]
# ## Step through it
# Watch the **posted_threads** line and `r->count` while the two threads start. Then use
# "next run_posted_thread" to reach the moment the first subrequest finishes at 20 ms.
# `post_subrequest` puts the parent request at the **head** of nginx's posted requests
# (`ngx_http_post_request_to_head`). The next thing nginx runs is `/t`'s resume handler
# (`ngx_http_lua_subrequest_resume`), and it resumes **t2**, the coroutine whose capture
# finished. The entry thread is still waiting for t1, so t2 ends as a zombie.
#
# The stepper's completion-order box re-runs the model with another order. In this lesson a
# timer's name has a space in it (`echo_sleep /sub_sleep`), so the cell below splits the box
# at commas only.

# %% [markdown] zh
# ## 单步执行
# 两个线程启动时，留意 **posted_threads** 那一行和 `r->count`。然后一步步跳到下一个 run_posted_thread 事件，直到 20 ms 时第一个子请求完成。`post_subrequest` 把父请求放到 nginx 投递的请求链表的**头部**（`ngx_http_post_request_to_head`）。nginx 接下来运行的是 `/t` 的恢复回调（`ngx_http_lua_subrequest_resume`），它恢复的是 **t2**，也就是 capture 刚完成的那个协程。入口线程还在等 t1，所以 t2 结束后成为僵尸。
#
# 步进器里的完成顺序框会按另一种顺序重新运行模型。本课中定时器的名字里带空格（`echo_sleep /sub_sleep`），所以下面的单元格只按逗号来切分这个框里的内容。

# %%
from ngxcoro.viz.stepper import Stepper


class FanOutStepper(Stepper):
    """Timer labels here contain a space: split the order box at commas only."""

    def rerun(self, order):
        if isinstance(order, str):
            order = [p.strip() for p in order.split(",") if p.strip()]
        return super().rerun(order)


FanOutStepper(res)

# %% [markdown]
# ## What if the slow one finished first?
# Timers are named in every snapshot (`snapshots[i]["timers"]`). Collect the names, then ask
# the model for a **completion order**: the 50 ms backend first.

# %% [markdown] zh
# ## 如果慢的那个先完成呢？
# 每个快照里都记着定时器的名字（`snapshots[i]["timers"]`）。把这些名字收集起来，再让模型按一个指定的**完成顺序**运行：50 ms 的后端先完成。

# %% check
labels = sorted({t["label"] for s in res.snapshots for t in s["timers"]})
slow_first = ngxcoro.run(conf, request, order=["echo_sleep /sub_sleep", "echo_sleep /sub_sleep2"])
print(f"{labels}\n{slow_first.body}")

# %% [markdown]
# Now t1's capture finishes first. The entry thread was waiting for exactly t1, so t1 hands
# its result straight to it inside the same `run_thread` call, and `wait t1` is printed
# before t2 has fetched anything. The entry thread then waits for t2 and parks again.
#
# ## Tweak: how slow is the second backend?
# Move the slider to change `/sub_sleep2`'s `echo_sleep`. The picture is the model's timeline:
# one lane per coroutine, `r->count` on top. At 50 ms the two timers are due at the same
# moment. nginx fires equal timers in the order they were armed, and `/sub_sleep` was armed
# first.

# %% [markdown] zh
# 现在 t1 的 capture 先完成。入口线程等的恰好是 t1，所以 t1 在同一次 `run_thread` 调用里直接把结果交给入口线程，`wait t1` 在 t2 取到任何东西之前就打印出来了。然后入口线程去等 t2，再次阻塞。
#
# ## 调一调：第二个后端有多慢？
# 拖动滑块，改变 `/sub_sleep2` 的 `echo_sleep`。图是模型的时间线：每个协程一条泳道，顶部是 `r->count`。在 50 ms 时两个定时器同时到期。nginx 按添加的先后触发同时到期的定时器，而 `/sub_sleep` 的定时器先添加。

# %%
from ngxcoro.viz.timeline import timeline_svg


def fan_out_view(seconds):
    r = ngxcoro.run(conf.replace("echo_sleep 0.02;", f"echo_sleep {seconds};"), request,
                    snapshots=True)
    return pre(r.body) + timeline_svg(r.snapshots)


Tweak(W["tweak"], [0.01, 0.02, 0.05, 0.08], fan_out_view, index=1)

# %% [markdown]
# ## The other way: one coroutine, `capture_multi`
# `ngx.location.capture_multi` sends several subrequests from **one** coroutine. That
# coroutine resumes once, when the last one is done: `post_subrequest` decrements
# `pending_subreqs` and resumes only at 0. The results come back in the order of the
# *request list*, not in the order they finished. Scenario 161: `/sub_sleep` takes 50 ms,
# the other two answer at once, yet its result comes first.

# %% [markdown] zh
# ## 另一种写法：一个协程，`capture_multi`
# `ngx.location.capture_multi` 从**一个**协程发出多个子请求。这个协程只恢复一次，在最后一个子请求完成时：`post_subrequest` 把 `pending_subreqs` 减一，减到 0 才恢复协程。结果按*请求列表*的顺序返回，而不是按完成的顺序。场景 161：`/sub_sleep` 要 50 ms，另外两个立即应答，但它的结果仍排在第一个。

# %% check
multi_conf, multi_request, multi_recording = scenario("161-capture-multi-three")
multi = ngxcoro.run(multi_conf, multi_request)
print(multi_conf[multi_conf.index("location /t"):multi_conf.index("location /sub_lua")]
      + multi.body + f"\n{W['same']}{multi.body == multi_recording['body']}")

# %% [markdown]
# With `capture_multi` there are no light threads, no zombies and no `wait`. What you lose is
# acting on the fast answer early. With light threads, each one can carry on with its own
# answer as soon as that answer arrives.
#
# ## The parent runs *between* subrequests
# nginx runs subrequests from its posted-request list, one after another. A finished
# subrequest puts its parent at the head of that list, so the parent runs **before the next
# subrequest starts**. Scenario 163 has the entry thread and two light threads each capturing:
# `/sub_echo` answers at once, and thread b finishes before `/sub_sleep2` has even started.
# Here are the lines of real nginx's debug log that show the order:

# %% [markdown] zh
# 用 `capture_multi` 就没有轻线程、没有僵尸，也不需要 `wait`。失去的是提前处理快的那个应答的机会。用轻线程时，每个线程都能在自己的应答一到就接着往下做。
#
# ## 父请求在子请求*之间*运行
# nginx 从投递的请求链表里一个接一个地运行子请求。一个子请求完成后，把它的父请求放到链表头部，所以父请求会在**下一个子请求开始之前**运行。场景 163 里入口线程和两个轻线程各自发起 capture：`/sub_echo` 立即应答，线程 b 在 `/sub_sleep2` 还没开始时就已经结束了。下面是真实 nginx 调试日志里能说明这个顺序的几行：

# %% check
_, _, rec163 = scenario("163-capture-entry-and-threads")
keep = ("POSTED_REQ", "POST_SUBREQ", "SUBREQ_RESUME", "ENDED")
print("\n".join(x for x in rec163["debug"] if x.startswith(keep)))

# %% [markdown]
# Read it from the top. `/sub_echo` is done (`POST_SUBREQ`), then `POSTED_REQ /t` runs,
# thread b resumes and ends (`ENDED`). Only after that comes `POSTED_REQ /sub_sleep2?n=entry`.
# The model gives the same body:

# %% [markdown] zh
# 从上往下读。`/sub_echo` 完成（`POST_SUBREQ`），然后运行 `POSTED_REQ /t`，线程 b 恢复并结束（`ENDED`）。这之后才轮到 `POSTED_REQ /sub_sleep2?n=entry`。模型给出的响应体相同：

# %% check
conf163, req163, _ = scenario("163-capture-entry-and-threads")
print(ngxcoro.run(conf163, req163).body == rec163["body"], rec163["body"], sep="\n")

# %% check
BlogBox("run_thread returns NGX_AGAIN when an API such as ngx.sleep or ngx.socket yields, "
        "or when light threads are left; the parked coroutines are then run from "
        "ctx->posted_threads by run_posted_threads.",
        "ngx.location.capture parks with NGX_AGAIN as well, but its coroutine never goes "
        "through posted_threads. The finished subrequest puts the request at the head of "
        "nginx's posted requests, and ngx_http_lua_subrequest_resume runs it before the "
        "next subrequest has started.",
        "163-capture-entry-and-threads")

# %% check zh
BlogBox("ngx.sleep 或 ngx.socket 等导致协程 yield，或者父协程和轻线程没有全部退出时，"
        "run_thread 返回 NGX_AGAIN；阻塞的协程之后由 run_posted_threads 从 "
        "ctx->posted_threads 指向的链表中依次取出运行。",
        "ngx.location.capture 也以 NGX_AGAIN 阻塞，但它的协程从不经过 posted_threads。"
        "完成的子请求把请求放到 nginx 投递的请求链表头部，由 ngx_http_lua_subrequest_resume "
        "在下一个子请求开始之前运行它。",
        "163-capture-entry-and-threads")

# %% [markdown]
# ## What to remember
# * A capture takes `r->main->count++` **per subrequest** and parks with `NGX_AGAIN`.
# * A finished subrequest wakes its waiting coroutine through nginx's posted *requests*
#   (`ngx_http_lua_post_subrequest` → `ngx_http_post_request_to_head` →
#   `ngx_http_lua_subrequest_resume`), not through `posted_threads`.
# * Light threads see each answer as soon as it arrives. `capture_multi` returns all of them
#   together, in request order.
#
# **Next:** [8 · Lab](08-lab.ipynb): your own Lua, and real nginx's trace beside the model's.
# Terms: [glossary](glossary.md).

# %% [markdown] zh
# ## 要点
# * capture **每个子请求**做一次 `r->main->count++`，并以 `NGX_AGAIN` 阻塞。
# * 完成的子请求通过 nginx 投递的*请求*唤醒等待它的协程（`ngx_http_lua_post_subrequest` → `ngx_http_post_request_to_head` → `ngx_http_lua_subrequest_resume`），而不是通过 `posted_threads`。
# * 轻线程能在每个应答到达时立刻看到它。`capture_multi` 则把所有应答一起返回，按请求的顺序。
#
# **下一课：** [8 · 实验：你的 Lua、模型与真实 nginx](08-lab.ipynb)：你自己的 Lua，以及真实 nginx 的跟踪记录与模型的并排对照。术语：[术语表](../glossary.md)。
