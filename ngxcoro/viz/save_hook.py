"""A jupyter_server pre-save hook: a notebook is saved without the views of
widgets whose state it does not keep.

JupyterLab saves a widget's output as a *view* (a model id) plus its text and
HTML fallbacks; the model itself lives in the kernel, and the notebook keeps
it only when the "save widget state" setting is on (it is off by default).
Opened again after the kernel is gone, such a view names a model that exists
nowhere, and JupyterLab's widget manager logs `widget model not found` for
each.  Dropping those views on save leaves the fallbacks: the stepper's last
step as a picture (Stepper.static_html), a Predict's question as text.  Views
whose model state the notebook does keep are left alone.

`python -m ngxcoro lab` starts JupyterLab with it (`--ContentsManager.pre_save_hook=`
HOOK); binder/postBuild writes it into the Binder image's server config.
"""
from __future__ import annotations

HOOK = "ngxcoro.viz.save_hook.drop_orphan_widget_views"
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def drop_orphan_widget_views(model, **_kw):
    """FileContentsManager.pre_save_hook(model=..., path=..., contents_manager=...)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    nb = model["content"]
    kept = (((nb.get("metadata") or {}).get("widgets") or {}).get(STATE) or {}).get("state") or {}
    for cell in nb.get("cells") or ():
        for out in cell.get("outputs") or ():
            data = out.get("data") if isinstance(out, dict) else None
            if not data or VIEW not in data:
                continue
            view = data[VIEW] or {}
            if view.get("model_id") in kept:
                continue
            del data[VIEW]
            if not data:                       # nothing else to show: a note instead
                data["text/plain"] = "(a widget: run the cell to see it)"
