"""The widgets' words in two languages (ngxcoro/viz/i18n.py): every word has
both, set_language takes only those, a Chinese lesson's widgets (Stepper,
Predict, Editor, timeline, graph key, count chart) speak Chinese, and a
notebook that never calls set_language gets the English it always had."""
from __future__ import annotations

import re

import pytest

import ngxcoro
from ngxcoro.trace.events import EVENTS
from ngxcoro.viz import i18n
from ngxcoro.viz.explain_zh import ZH, explain_zh

CJK = re.compile(r"[\u4e00-\u9fff]")
LUA = """local t = ngx.thread.spawn(function() ngx.sleep(0.1) ngx.say("child") end)
ngx.say("parent") ngx.thread.wait(t)"""


@pytest.fixture
def zh():
    """Chinese widgets for one test, English again after it."""
    i18n.set_language("zh")
    yield
    i18n.set_language("en")


@pytest.fixture(scope="module")
def result():
    return ngxcoro.run_lua(LUA, snapshots=True)


def test_every_word_has_both_languages():
    for key, both in i18n.WORDS.items():
        assert set(both) == set(i18n.LANGUAGES), key
        assert all(isinstance(v, str) and v for v in both.values()), key
        # the same {placeholders} in both
        en, zh = (set(re.findall(r"\{(\w+)\}", both[lang])) for lang in ("en", "zh"))
        assert en == zh, f"{key}: {en} vs {zh}"
    assert set(i18n.STEPPER_KEYS) <= set(i18n.WORDS)


def test_set_language_rejects_others():
    for bad in ("fr", "ZH", "", None, "zh-CN"):
        with pytest.raises(ValueError):
            i18n.set_language(bad)
    assert i18n.language() == "en"


def test_english_by_default():
    assert i18n.language() == "en"
    assert i18n.word("step of", step=3, last=9) == "step 3 of 9"
    assert i18n.word("next step") == "next step (→)"


def test_zh_stepper_words_are_chinese(zh, result):
    st = ngxcoro.viz.Stepper(result, lua=True)
    assert set(st.words) == set(i18n.STEPPER_KEYS)
    assert st.words["step of"] == "第 {step} / {last} 步"
    assert st.words["previous step"].startswith("上一步")
    assert st.words["next step"].startswith("下一步")
    assert st.words["event log"].startswith("事件日志")
    # the words a learner reads are Chinese (a stage name like run_thread stays)
    for key in ("first step", "play", "pause", "event log", "output so far", "re-running",
                "no kernel rerun", "cap note", "drawing step", "your lua", "what if"):
        assert CJK.search(st.words[key]), key
    # explanations are Chinese; events, C names and nginx's words stay
    assert all(CJK.search(f["explain"]) for f in st.frames), [f["explain"] for f in st.frames]
    assert [f["event"] for f in st.frames] == [s["event"] for s in result.snapshots]
    assert "NGX_AGAIN" in " ".join(f["explain"] for f in st.frames)
    assert "第 " in st.static_html()
    st.rerun(["t9"])
    assert st.rerun_status.startswith("未知的定时器标签 't9'")


def test_english_stepper_unchanged(result):
    st = ngxcoro.viz.Stepper(result, lua=True)
    assert st.words["step of"] == "step {step} of {last}"
    assert [f["explain"] for f in st.frames] == [s["explain"] for s in result.snapshots]
    assert not any(CJK.search(v) for v in st.words.values())
    assert not CJK.search(st.static_html())
    st.rerun(["t9"])
    assert st.rerun_status.startswith("unknown timer label 't9'")


def test_language_is_read_when_a_widget_is_made(result):
    en = ngxcoro.viz.Stepper(result, lua=True)
    i18n.set_language("zh")
    try:
        zh = ngxcoro.viz.Stepper(result, lua=True)
    finally:
        i18n.set_language("en")
    assert en.words["play"] == "play" and zh.words["play"] == "播放"


def test_every_event_has_a_chinese_line():
    assert set(ZH) == set(EVENTS)
    assert explain_zh("no_such_event", {}, 0) is None


def test_chinese_explanations_fill_their_fields(result):
    for s in result.snapshots:
        line = explain_zh(s["event"], s["data"], s["t_ms"])
        assert line and "{" not in line, (s["event"], line)
    # the callable ones too
    assert explain_zh("sock_handler", {"wev": 1, "u": "u1"}, 0) == "写事件到达 u1"
    assert explain_zh("post_event", {"update": 0, "sem": "sema1"}, 0).startswith("ngx_post_event：sema1")
    count = lambda cause: explain_zh("count", {"delta": 1, "c": 2, "cause": cause}, 0)
    assert count("subrequest /sub") == "r->count +1 -> 2（原因：子请求 /sub）"
    assert count("subrequest /sub done") == "r->count +1 -> 2（原因：子请求 /sub 完成）"
    assert count("close_request") == "r->count +1 -> 2（原因：close_request）"


def test_zh_chrome_elsewhere(zh, result):
    from ngxcoro.viz.editor import Editor, lua_error_headline
    from ngxcoro.viz.legend import legend_dot
    from ngxcoro.viz.lessons import Predict, count_chart_svg
    from ngxcoro.viz.timeline import timeline_svg
    ed = Editor(lua='ngx.say("hi")')
    assert ed.run_button.description == "运行"
    assert "状态 200" in ed.summary.value and "data-status='200'" in ed.summary.value
    assert lua_error_headline("content_by_lua(nginx.conf:2):3: ')' expected") == \
        "你的 Lua 代码第 3 行：')' expected"
    assert Predict("q?", ["a", "b"], "a", "why").words["check"] == "核对"
    tl = timeline_svg(result.snapshots)
    assert "时间线" in tl and "轻线程" in tl and "阶段切换" in tl
    assert "事件（虚线：finalize_request 及其 rc）" in count_chart_svg(result)
    dot = legend_dot()
    assert dot.isascii() and "&#22270;&#20363;" in dot           # 图例, as dot wants it
    assert "RUNNING" in dot and "cur_co_ctx" in dot              # statuses and C names stay


def test_english_chrome_elsewhere(result):
    from ngxcoro.viz.editor import Editor
    from ngxcoro.viz.lessons import count_chart_svg
    from ngxcoro.viz.timeline import timeline_svg
    ed = Editor(lua='ngx.say("hi")')
    assert ed.run_button.description == "Run" and "status 200 &middot;" in ed.summary.value
    tl = timeline_svg(result.snapshots)
    assert "one lane per coroutine" in tl and not CJK.search(tl)
    assert "events (dashed: finalize_request with its rc)" in count_chart_svg(result)


def test_blogbox_as_plain_text_in_both_languages():
    """BlogBox's text/plain (where HTML does not show): nginx's and the model's
    answers the same in both languages, the words around them the lesson's."""
    from ngxcoro.viz.lessons import BlogBox
    box = BlogBox("a claim", "what happens", "044-many-threads")
    en = repr(box)
    assert en.startswith("The blog says: a claim\nnginx does:    what happens\n"
                         "scenario 044-many-threads: nginx 200 'total ms: 1990\\n")
    assert en.endswith("\nagree: True") and not CJK.search(en)
    i18n.set_language("zh")
    try:
        zh = repr(box)
        belief = repr(BlogBox("a claim", "what happens", "044-many-threads", says="belief"))
    finally:
        i18n.set_language("en")
    assert zh.startswith("博客说：a claim\nnginx 实际上：what happens\n"
                         "场景 044-many-threads：nginx 200 'total ms: 1990\\n")
    assert zh.endswith("\n一致：是") and "\n模型：200 'total ms: 1990\\n" in zh
    assert belief.startswith("你可能以为：a claim\n")
