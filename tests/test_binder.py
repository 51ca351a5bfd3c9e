"""Binder and conda: both environment files are YAML that conda, mamba and
repo2docker accept; Binder's has what the lessons need and no test tools;
the README's Binder link opens the tour."""
import os
import pathlib
import re

import pytest

from test_environment import CONDA_NAME, _req

yaml = pytest.importorskip("yaml")       # PyYAML comes with jupyter_events (jupyterlab)

try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV_FILES = [ROOT / "environment.yml", ROOT / "binder" / "environment.yml"]
# conda match spec as used here: a name and an optional version constraint
SPEC = re.compile(r"^[A-Za-z0-9_.\-]+(\s*[<>=!~]=?\s*[0-9][0-9A-Za-z.*]*)?$")


def _load(path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def _names(path):
    """{conda or pip name: version floor} of an environment file."""
    out = {}
    for dep in _load(path)["dependencies"]:
        for spec in (dep["pip"] if isinstance(dep, dict) else [dep]):
            if not spec.startswith("-"):
                name, ver = _req(spec)
                out[name] = ver
    return out


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_environment_file_is_valid(path):
    data = _load(path)
    assert set(data) <= {"name", "channels", "dependencies", "variables", "prefix"}
    assert data["channels"] == ["conda-forge"]
    deps = data["dependencies"]
    pips = [d for d in deps if isinstance(d, dict)]
    assert len(pips) <= 1 and all(set(d) == {"pip"} for d in pips)
    assert "pip" in deps, "a pip: section needs pip itself in the environment"
    for dep in deps:
        if isinstance(dep, str):
            assert SPEC.match(dep), f"{path.name}: {dep!r} is not a conda match spec"
    for spec in (pips[0]["pip"] if pips else []):
        assert isinstance(spec, str) and (spec.startswith("-e ") or SPEC.match(spec)), spec


def test_binder_has_the_lessons_needs_and_no_test_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    need = [_req(s) for s in project["dependencies"] + project["optional-dependencies"]["lab"]]
    lab = {name for name, _ in need}
    test_only = {_req(s)[0] for s in project["optional-dependencies"]["test"]} - lab
    binder = _names(ROOT / "binder" / "environment.yml")
    for name, ver in need:
        conda = CONDA_NAME.get(name, name)
        assert binder.get(conda) == ver, f"binder/environment.yml: {conda}{ver} missing"
    extra = sorted(set(binder) & test_only)
    assert not extra, f"test tools in Binder's environment: {extra}"
    assert "playwright" in test_only and "notebook" in lab


def test_binder_installs_ngxcoro():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!") and re.search(r"pip install .*-e \.\s*$", text, re.M)


def test_readme_binder_link_opens_the_tour():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"https://mybinder\.org/v2/gh/[^)\s`]+", readme)
    assert links, "no Binder link in README.md"
    for link in links:
        m = re.search(r"labpath=([^&)\s`]+)", link)
        assert m, link
        path = m.group(1).replace("%2F", "/")
        assert (ROOT / path).is_file(), f"Binder link opens {path}, which does not exist"
    assert re.search(r"\]\(https://mybinder\.org/badge_logo\.svg\)", readme)
