"""The package's shape: no import cycles, and a light `import speechgrade` / CLI start."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import speechgrade

ROOT = Path(speechgrade.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["speechgrade", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Edges from each module to the package modules it imports (at top level or inside functions)."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            graph[mod] |= {t for t in targets if t in files and t != mod}
    return graph


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_the_graph_sees_lazy_imports():
    assert "speechgrade.extraction.ray" in _graph()["speechgrade.extraction"]


def test_import_and_cli_help_load_no_heavy_libraries():
    code = ("import sys, speechgrade, speechgrade.cli; "
            "print(sorted(m for m in ('pandas', 'scipy', 'sklearn', 'torch', 'lightgbm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def _layers() -> list[set[str]]:
    """The layer table of docs/architecture.md: each row's module and package names (first level under the root)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) [^|]+\| ([^|]+) \|$", doc, flags=re.M)
    assert rows and [int(n) for n, _ in rows] == list(range(1, len(rows) + 1)), "the layer table is missing"
    return [{name.strip().replace("\\", "") for name in names.split(",")} for _, names in rows]


def test_every_module_imports_only_from_its_layer_or_earlier_ones():
    """The layer order docs/architecture.md states holds for every import, and every module is in a layer."""
    layers = _layers()

    def layer(module: str) -> int:
        parts = module.split(".")
        name = parts[1] if len(parts) > 1 else "(the package root)"
        found = [i for i, names in enumerate(layers) if name in names]
        assert found, f"{module} is in no layer of docs/architecture.md's table"
        return found[0]

    upward = [f"{m} (layer {layer(m) + 1}) imports {d} (layer {layer(d) + 1})"
              for m, deps in sorted(_graph().items()) for d in sorted(deps) if layer(d) > layer(m)]
    assert not upward, upward
