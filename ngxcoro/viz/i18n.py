"""The words the widgets themselves show (buttons, headings, verdicts), in
English and Chinese.  A Chinese lesson (notebooks/zh/) starts with

    from ngxcoro.viz import set_language
    set_language("zh")

and every widget made after that speaks Chinese.  What the model says (its
events, nginx's log lines, C names) stays as nginx and the C source write it.
"""
from __future__ import annotations

LANGUAGES = ("en", "zh")
_lang = "en"

WORDS = {
    # Predict (viz/lessons.py)
    "predict": {"en": "Predict.", "zh": "预测："},
    "check": {"en": "Check", "zh": "核对"},
    "pick first": {"en": "Pick an answer first.", "zh": "请先选一个答案。"},
    "right": {"en": "Right.", "zh": "答对了。"},
    "not quite": {"en": "Not quite.", "zh": "不对。"},
    "the answer is": {"en": "The answer is", "zh": "答案是"},
    # BlogBox (viz/lessons.py)
    "blog says": {"en": "The blog says:", "zh": "博客说："},
    "nginx does": {"en": "nginx does:", "zh": "nginx 实际上："},
    "scenario": {"en": "Scenario", "zh": "场景"},
    "nginx answered": {"en": "real nginx answered", "zh": "真实的 nginx 回答"},
    "model answers": {"en": "the model answers", "zh": "模型回答"},
    "no response": {"en": "no complete response", "zh": "没有完整的响应"},
    "agree": {"en": "the model and real nginx agree", "zh": "模型与真实的 nginx 一致"},
    "differ": {"en": "model and recording differ!", "zh": "模型与录制结果不一致！"},
}


def set_language(lang):
    """Make the widgets created from now on speak `lang` ("en" or "zh")."""
    global _lang
    if lang not in LANGUAGES:
        raise ValueError(f"set_language: one of {', '.join(LANGUAGES)}, not {lang!r}")
    _lang = lang


def language():
    return _lang


def word(key):
    """The widget word `key` in the current language."""
    return WORDS[key][_lang]


def words(*keys):
    """{key: word} for a widget's JavaScript side."""
    return {k: word(k) for k in keys}
