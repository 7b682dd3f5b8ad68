"""The shape of `digest/`: no import cycle, and the lower layers never import the upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "digest"
# what each lower layer may import from digest (besides itself)
ALLOWED = {
    "digest.vocabulary": set(),
    "digest.safe_text": set(),
    "digest.models": {"digest.vocabulary"},
    "digest.errors": set(),
    "digest.bounces": set(),  # pure rules over what came back, which the store applies
    "digest.local_files": {"digest.errors"},
    "digest.store": {
        "digest.models",
        "digest.errors",
        "digest.vocabulary",
        "digest.bounces",
        "digest.safe_text",  # an address shown in an error, its password masked
    },
    "digest.sources": {
        "digest.models",
        "digest.errors",
        "digest.vocabulary",
        "digest.local_files",
        "digest.safe_text",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """The digest modules a file imports at module level (TYPE_CHECKING blocks aside)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                names = [f"{sub.module}.{a.name}" for a in sub.names]
                found |= {n for n in names if n in known} or {sub.module}
            elif isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names}
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) for name, path in mods.items()}


def test_the_graph_sees_known_edges() -> None:
    edges = graph()
    assert "digest.store" in edges["digest.ingest.listings"]
    assert "digest.ingest.identity" in edges["digest.ingest.listings"]
    assert "digest.models" in edges["digest.store.papers"]


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(edges[name]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [name, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_lower_layers(layer: str) -> None:
    edges = graph()
    mine = {m for m in edges if m == layer or m.startswith(layer + ".")}
    outside = {
        (m, dep)
        for m in mine
        for dep in edges[m]
        if dep not in mine and not any(dep == a or dep.startswith(a + ".") for a in ALLOWED[layer])
    }
    assert outside == set()


def test_the_cli_loads_nothing_heavy_until_a_command_needs_it() -> None:
    """`digest --help` answers at once: building the command tree loads no ORM, no numeric
    library, no template engine, no HTTP client and no migration tool."""
    import subprocess
    import sys

    heavy = ["sqlalchemy", "sqlmodel", "alembic", "numpy", "scipy", "sklearn", "jinja2", "httpx"]
    code = f"import sys, digest.cli.main; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
