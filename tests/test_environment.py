"""environment.yml (conda, Binder) and pyproject.toml ask for the same things."""
import pathlib
import re

try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# PyPI name -> conda-forge name, where they differ
CONDA_NAME = {"graphviz": "python-graphviz"}


def _req(spec):
    """'lupa>=2.8' -> ('lupa', '>=2.8'); markers dropped."""
    spec = spec.split(";")[0].strip()
    m = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    out = {}
    for spec in reqs:
        if "python_version<" in spec.replace(" ", ""):
            continue                     # backports for old Pythons only
        name, ver = _req(spec)
        out[name] = ver
    return out


def environment_requirements():
    """The conda and pip entries of environment.yml (a flat, simple file)."""
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s+([^#\s].*?)\s*$", line)
        if not m or m.group(1).endswith(":") or m.group(1).startswith("-e"):
            continue
        name, ver = _req(m.group(1))
        out[name] = ver
    return out


def test_every_pyproject_dependency_is_in_environment_yml_with_the_same_floor():
    env = environment_requirements()
    for name, ver in pyproject_requirements().items():
        conda = CONDA_NAME.get(name, name)
        assert conda in env, f"{name} is in pyproject.toml but not in environment.yml"
        assert env[conda] == ver, f"{name}: pyproject says {ver!r}, environment.yml {env[conda]!r}"


def test_environment_installs_the_project_itself():
    assert re.search(r"^\s*-\s+-e\s+\.\s*$", (ROOT / "environment.yml").read_text(), re.M)
