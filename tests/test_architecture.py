"""The package map (README "Architecture"): imports run one way.

Each module's imports of humelab are read from its source (``ast``); a module may
import only the places its layer allows. Imports inside functions count too, except
the documented lazy ones that keep an optional dependency off ``import humelab``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "humelab"

BASE = {"humelab.errors", "humelab._stacklevel"}
#: What each place may import (prefixes), beside itself.
ALLOWED: dict[str, set[str]] = {
    "humelab.errors": set(),
    "humelab._stacklevel": set(),
    "humelab.contract": BASE,
    "humelab.settings": BASE,
    "humelab.schema": BASE | {"humelab.contract"},
    "humelab._cost": BASE | {"humelab.contract", "humelab.settings"},
    "humelab.io": BASE | {"humelab.contract", "humelab.schema"},
    "humelab.client": BASE
    | {"humelab.contract", "humelab.settings", "humelab.schema", "humelab.io"}
    | {"humelab._cost"},
    "humelab.service": BASE
    | {"humelab.contract", "humelab.settings", "humelab.schema", "humelab._cost"},
}
#: Lazy imports inside functions, each keeping a heavy or optional dependency off a
#: lighter import: (module, imported) pairs.
LAZY = {
    # the embedded default: the web stack (the `service` extra) only when started
    ("humelab.client._embedded", "humelab.service"),
    ("humelab.client._embedded", "humelab.service.server"),
    ("humelab.client._embedded", "humelab.service.store"),
    # `import humelab` loads neither the web stack, ipywidgets, pyplot nor Dask
    ("humelab", "humelab.corpus"),
    ("humelab", "humelab.service"),
    ("humelab", "humelab.widgets"),
    ("humelab", "humelab.plotting"),
    # Job.to_parquet / JobGroup.to_parquet hand over to the corpus writer, which
    # needs Dask and pyarrow (the `dask` extra)
    ("humelab.client.jobs", "humelab.corpus"),
    # engines load their media stacks (PyAV, Pillow) when built
    ("humelab.service.engines", "humelab.service.engines.simulated"),
    ("humelab.service.engines", "humelab.service.engines.hume"),
    # serve() checks the `service` extra before loading starlette and uvicorn
    *(
        ("humelab.service.server", f"humelab.service.{m}")
        for m in ("app", "engines", "runner", "store", "intake", "_netguard")
    ),
}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name: str, path: Path):
    """(imported module, inside a function) for every humelab import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    nested = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested |= {id(n) for n in ast.walk(node) if n is not node}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target == "humelab" or target.startswith("humelab."):
                yield target, id(node) in nested


def _place(name: str) -> str | None:
    for place in sorted(ALLOWED, key=len, reverse=True):
        if name == place or name.startswith(place + "."):
            return place
    return None


MODULES = list(_modules())


@pytest.mark.parametrize("name,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_run_one_way(name, path):
    place = _place(name)
    if place is None:  # analysis, plotting, widgets, report, cli, the package
        return
    allowed = ALLOWED[place] | {place}
    wrong = []
    for target, nested in _imports(name, path):
        if (name, target) in LAZY and nested:
            continue
        if not any(target == a or target.startswith(a + ".") for a in allowed):
            wrong.append(f"{target}{' (inside a function)' if nested else ''}")
    assert not wrong, f"{name} ({place}) imports {wrong}"


def test_no_humelab_import_inside_functions_except_the_lazy_ones():
    nested = [
        (name, target)
        for name, path in MODULES
        for target, inside in _imports(name, path)
        if inside and (name, target) not in LAZY
    ]
    assert not nested, nested
