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
    """Each chapter's jupytext source is notebooks/scripts/NN_name.py, out of the way of the file
    browser (which would otherwise list every chapter twice)."""
    import jupytext

    source = path.parent / "scripts" / f"{path.stem}.py"
    assert source.exists(), f"{path.name} has no paired scripts/{source.name} (jupytext py:percent)"
    formats = jupytext.read(path).metadata.get("jupytext", {}).get("formats")
    assert formats == "ipynb,scripts//py:percent", f"{path.name} is paired as {formats!r}"
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


# The course layer: chapter recipes, and the widget panels that drive them (experiments/widgets.py).
COURSE_LAYER = ("cplus_edu.experiments",)


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module the code ``source`` of a module in ``package`` imports (absolute names;
    relative imports resolved)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _library_modules() -> list[Path]:
    return [p for p in sorted((ROOT / "cplus_edu").rglob("*.py"))
            if not any(".".join(p.relative_to(ROOT).with_suffix("").parts).startswith(c)
                       for c in COURSE_LAYER)]  # fmt: skip


def test_the_library_never_imports_the_course_layer():
    library = _library_modules()
    assert any(p.name == "cplus_one.py" for p in library) and len(library) > 20
    for path in library:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        bad = {m for m in _imported_modules(path.read_text(), package)
               if m.startswith(COURSE_LAYER)}  # fmt: skip
        assert not bad, f"{path.relative_to(ROOT)} imports the course layer: {sorted(bad)}"
        lazy = re.findall(r'"\w+": "(experiments[\w.]*)"', path.read_text())
        assert not lazy, f"{path.relative_to(ROOT)} re-exports the course layer lazily: {lazy}"


def test_the_import_check_sees_a_course_import():
    source = "from ..experiments import tables\nimport cplus_edu.experiments.widgets\n"
    found = _imported_modules(source, "cplus_edu.losses")
    assert "cplus_edu.experiments.tables" in found and "cplus_edu.experiments.widgets" in found


def test_one_name_per_idea_across_the_public_namespaces():
    """A public name means one thing: no name is exported by two modules of the package."""
    import importlib

    owners: dict[str, set[str]] = {}
    for package in ("cplus_edu", "cplus_edu.losses", "cplus_edu.metrics", "cplus_edu.data",
                    "cplus_edu.viz", "cplus_edu.experiments"):  # fmt: skip
        module = importlib.import_module(package)
        for name, sub in module._EXPORTS.items():
            owners.setdefault(name, set()).add(f"{package}.{sub}")
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert not shared, f"names exported from two places: {shared}"


def test_shipped_lab_settings_silence_the_news_and_are_installed_everywhere():
    """binder/overrides.json turns off the "Jupyter news?" toast and the update check; `make lab`
    / `make test` and Binder's postBuild install it as the lab's defaults."""
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    schema_file = (Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas" / "@jupyterlab"
                   / "apputils-extension" / "notification.json")  # fmt: skip
    schema = json.loads(schema_file.read_text())["properties"]
    assert {c["const"] for c in schema["fetchNews"]["oneOf"]} >= {"false"}
    assert schema["checkForUpdates"]["type"] == "boolean"
    assert "binder/overrides.json" in (ROOT / "Makefile").read_text()
    assert "binder/overrides.json" in (ROOT / "binder" / "postBuild").read_text()


def test_readme_documents_the_emulated_cpus_of_make_test_portable():
    """The README's portability table names exactly the switches the Makefile sets."""
    makefile, readme = (ROOT / "Makefile").read_text(), (ROOT / "README.md").read_text()
    cpus = dict(re.findall(r"^CPU_(\w+) := (.+)$", makefile, flags=re.M))
    names = re.search(r"^PORTABLE_CPUS := (.+)$", makefile, flags=re.M).group(1).split()
    assert sorted(names) == sorted(cpus) and len(cpus) >= 2, (names, cpus)
    for name, switches in cpus.items():
        assert f"| `{name}` |" in readme and f"`{switches}`" in readme, name
        assert "ATEN_CPU_CAPABILITY" in switches and "OMP_NUM_THREADS" in switches, switches


def test_references_and_glossary_are_linked_and_name_real_chapters():
    readme = (ROOT / "README.md").read_text()
    chapters = {p.name[:2] for p in NOTEBOOKS}
    for name in ("REFERENCES.md", "GLOSSARY.md"):
        assert f"]({name})" in readme, f"README does not link {name}"
        text = (ROOT / name).read_text()
        rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
        assert len(rows) > 10, name
        for row in rows[1:]:
            last = row.rstrip(" |").split("|")[-1]
            for first, second in re.findall(r"\b(\d\d)(?:-(\d\d))?\b", last):
                assert first in chapters and (not second or second in chapters), (name, row)
