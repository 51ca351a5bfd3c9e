# %% [markdown]
# # 0 · A tour of ngxcoro
#
# OpenResty runs your Lua inside nginx as **coroutines**. `ngx.thread.spawn` starts a
# *light thread*, `ngx.sleep` parks one, and a small scheduler in lua-nginx-module
# (`ngx_http_lua_run_thread` and friends in `ngx_http_lua_util.c`) decides who runs next.
#
# This kit is a model of that scheduler, faithful to **lua-nginx-module 0.10.23**. It runs
# your real Lua (LuaJIT), on a virtual clock, and records every step so you can walk
# through it, forwards and back. Real nginx is the judge: every claim in these lessons is
# also a test that runs the same config on real nginx.
#
# Run the cells from the top (Shift-Enter).

# %% [markdown] zh
# # 0 · ngxcoro 导览
#
# OpenResty 把你写的 Lua 放在 nginx 里以**协程**的形式运行。`ngx.thread.spawn` 启动一个 *轻线程*（light thread），`ngx.sleep` 让它阻塞等待，而 lua-nginx-module 中一个小小的调度器（`ngx_http_lua_util.c` 里的 `ngx_http_lua_run_thread` 及其周边函数）决定下一个轮到谁运行。
#
# 这个工具包是该调度器的一个模型，忠实对应 **lua-nginx-module 0.10.23**。它运行你真实的 Lua 代码（LuaJIT），使用虚拟时钟，并记录下每一步，你可以向前、向后逐步查看。真实的 nginx 是最终裁判：这些课程中的每一个论断同时也是一个测试，同样的配置会在真实的 nginx 上再跑一遍。
#
# 请从头开始依次运行各单元格（Shift-Enter）。课程中用到的术语及其 C 名称见[术语表](../glossary.md)。
#
# **下一课：** [1 · nginx 中的协程](01-coroutines.ipynb)

# %%
import ngxcoro

W = {"sleep": "sleep (s)"}   # the Tweak's label (the Chinese notebook has its own)

# %% zh
import ngxcoro
from ngxcoro.viz import set_language
set_language("zh")
W = {"sleep": "sleep 时长（秒）"}

# %% [markdown]
# ## Run a location block
# A location with one light thread. `ngxcoro.run` serves one request and tells you what
# the client got.

# %% [markdown] zh
# ## 运行一个 location 块
# 一个只有一个轻线程的 location。`ngxcoro.run` 处理一个请求，并告诉你客户端收到了什么。

# %%
conf = """
location /t {
    content_by_lua_block {
        ngx.say("entry: before spawn")
        ngx.thread.spawn(function()
            ngx.say("light thread: first part")
            ngx.sleep(0.1)
            ngx.say("light thread: after its sleep")
        end)
        ngx.say("entry: after spawn")
    }
}
"""

# %% check
res = ngxcoro.run(conf, "GET /t")
print(res.status)
print(res.body)

# %% [markdown]
# The light thread printed *before* the entry thread's second line: `spawn` runs the new
# thread at once, and the entry thread waits in a queue (`posted_threads`) until the
# child blocks in `ngx.sleep`. The sleep took 0.1 s of *virtual* time: the run is instant.
#
# ## Step through it
# `ngxcoro.show` runs the same thing and gives you a stepper: use the buttons, the slider,
# the arrow keys, or click a line in the event log. The graph shows the request
# (`r->count`), the Lua ctx, the coroutine tree and the `posted_threads` line.

# %% [markdown] zh
# 轻线程的输出出现在入口线程第二行输出*之前*：`spawn` 会立刻运行新线程，入口线程则在一个链表（`posted_threads`）里等着，直到子线程阻塞在 `ngx.sleep` 上。这次 sleep 用的是 0.1 秒的 *虚拟*时间：整个运行瞬间就完成了。
#
# ## 单步执行
# `ngxcoro.show` 运行同样的代码，并给出一个步进器：可以用按钮、滑块、方向键，或点击事件日志中的某一行来移动。图中画出了请求（`r->count`）、Lua ctx、协程树和 `posted_threads` 链表。

# %%
ngxcoro.show(conf, "GET /t")

# %% [markdown]
# ## Predict
# Before you run the next cell: what if the light thread does **not** sleep?

# %% [markdown] zh
# ## 预测
# 运行下一个单元格之前先想一想：如果轻线程**不**调用 sleep，会怎样？

# %% predict
from ngxcoro.viz.lessons import Predict
Predict("Without <code>ngx.sleep</code> in the light thread, which line comes second?",
        ["entry: after spawn", "light thread: first part", "light thread: after its sleep"],
        "light thread: first part",
        "The child always runs first, up to its first block or its end. With no sleep it "
        "runs to its end: both of its lines come before the entry thread's second line.")

# %% predict zh
from ngxcoro.viz.lessons import Predict
Predict("如果轻线程里没有 <code>ngx.sleep</code>，输出的第二行是哪一行？",
        ["entry: after spawn", "light thread: first part", "light thread: after its sleep"],
        "light thread: first part",
        "子线程总是先运行，一直运行到它第一次阻塞或者结束为止。没有 sleep 时它会一口气运行到结束："
        "它的两行输出都排在入口线程的第二行之前。")

# %% check answer
print(ngxcoro.run(conf.replace("ngx.sleep(0.1)", ""), "GET /t").body)

# %% [markdown]
# ## Tweak
# Move the slider: how long the light thread sleeps. The order of the output does not
# change with the length: a sleep of 0 still parks the thread (a real 0 ms timer), and the
# entry thread runs in the meantime. At 0, nginx also logs a warning. Its default
# `error_log` level is `error`, which hides warnings, so these runs log at `warn`.

# %% [markdown] zh
# ## 调一调
# 拖动滑块：改变轻线程 sleep 的时长。输出的顺序不随时长变化：即使 sleep 0 也会让线程阻塞（一个真正的 0 ms定时器），入口线程趁这段时间运行。时长为 0 时，nginx 还会记录一条警告。nginx 默认的 `error_log` 级别是 `error`，会把警告过滤掉，所以这里的运行用 `warn` 级别记录日志。

# %%
from ngxcoro.viz.lessons import Tweak, pre

def body_for(seconds):
    r = ngxcoro.run(conf.replace("0.1", str(seconds)), "GET /t", log_level="warn")
    return pre(r.body + "\n" + "\n".join(l.split(" 1#1: ")[1].split(", client:")[0]
                                         for l in r.error_log))

Tweak(W["sleep"], [0, 0.001, 0.1, 1], body_for, index=2)

# %% [markdown]
# ## What the module's test suite would print
# lua-nginx-module's own tests trace coroutines with systemtap probes. The model fires the
# same probes at the same points; these lines are what the test suite's "GC script" prints
# for this request (ids in order of first appearance; the entry thread is 1).

# %% [markdown] zh
# ## 模块自带的测试套件会打印什么
# lua-nginx-module 自己的测试用 systemtap 探针跟踪协程。模型在同样的位置触发同样的探针；下面这几行就是测试套件的 "GC script" 对这个请求会打印的内容（编号按首次出现的顺序分配，入口线程是 1）。

# %% check
print("\n".join(res.stap))

# %% [markdown]
# ## Your own code
# Paste a location block (or just Lua) into the editor and press Run. Errors come back as
# nginx would log them.

# %% [markdown] zh
# ## 你自己的代码
# 把一个 location 块（或者只是一段 Lua）粘贴到编辑器里，然后点 **Run**。出错时，错误信息会像 nginx 那样写进日志返回给你。

# %%
from ngxcoro.viz import Editor
Editor(conf)

# %% [markdown]
# **Next:** [1 · Coroutines inside nginx](01-coroutines.ipynb) — the entry thread,
# `run_thread` and the trampoline that resumes every coroutine.

# %% [markdown] zh
# **下一课：** [1 · nginx 中的协程](01-coroutines.ipynb)：入口线程、`run_thread`，以及恢复每一个协程的那块“蹦床”（trampoline）。
