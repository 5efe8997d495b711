"""Project hygiene: dependency lists agree, notebooks are stored clean, import is fast."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement line (PEP 503)."""
    name = re.split(r"[\s<>=!~\[;@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_deps() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(r) for r in data["project"]["dependencies"]}


def _environment_yml_deps() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = [line.strip()[2:] for line in lines[start + 1 :] if line.strip().startswith("- ")]
    return {_name(r) for r in reqs if not r.startswith("-e")}


def _binder_deps() -> set[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return {_name(r) for r in lines if r.strip() and not r.startswith(("#", "-"))}


def test_dependency_lists_agree():
    pyproject = _pyproject_deps()
    assert "torch" in pyproject and "umap-learn" in pyproject
    assert _environment_yml_deps() == pyproject
    assert _binder_deps() == pyproject


def test_pins_only_outside_the_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    assert not [r for r in reqs if "==" in r], "the package keeps lower bounds only"
    env_reqs = [
        r
        for r in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
        if r.strip() and not r.startswith(("#", "-"))
    ]
    assert all("==" in r for r in env_reqs), "binder/ pins exact versions"


def test_there_are_notebooks():
    assert any(p.name.startswith("00_") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: strip the outputs"
            assert cell.get("execution_count") is None, f"{path.name}: strip execution counts"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec metadata missing (JupyterLab would ask for a kernel)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_paired_with_its_py_percent_source(path):
    import jupytext

    source = path.with_suffix(".py")
    assert source.exists(), f"{path.name} has no paired {source.name} (jupytext py:percent)"
    a, b = jupytext.read(path), jupytext.read(source)
    sources_a = [(c.cell_type, c.source.strip()) for c in a.cells]
    sources_b = [(c.cell_type, c.source.strip()) for c in b.cells]
    assert sources_a == sources_b, f"run `jupytext --sync {source.relative_to(ROOT)}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_public_names_only(path):
    text = path.read_text()
    assert not re.search(r"from cplus_edu[\w.]*\._|import cplus_edu[\w.]*\._", text), (
        f"{path.name} imports a private module"
    )


def test_import_is_fast():
    code = "import time; t = time.perf_counter(); import cplus_edu; print(time.perf_counter() - t)"
    seconds = float(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert seconds < 3.0
    heavy = subprocess.check_output(
        [sys.executable, "-c", "import sys, cplus_edu; print('torch' in sys.modules)"], text=True
    )
    assert heavy.strip() == "False", "import cplus_edu must not import torch eagerly"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make lab" in readme
    assert "CPLUS_EDU_DATA" in ci


def test_readme_lists_every_chapter():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.name in readme, f"README's chapter list misses {path.name}"
