"""The house is one-way: the ground floor (``xprof/``) imports no part, the parts import each
other only as the design allows, no module imports itself round a cycle, nobody borrows
another module's private names, and no module grows past 600 lines.

Every ``import`` statement counts, at module level and inside functions alike: an import
moved into a function still points the same way. The checks read the source (``ast``), so
they see what a reader sees, without importing anything.
"""

from __future__ import annotations

import ast
import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# source folder -> package, as pyproject.toml's [tool.setuptools] package-dir declares them
PACKAGES = {"xprof": "xprof", "agent": "xprof.agent", "collector": "xprof.collector",
            "dashboard": "xprof.dashboard"}
PARTS = ("xprof.agent", "xprof.collector", "xprof.dashboard")
# part -> the parts it must not import (agent may import collector's estimate/advise)
FORBIDDEN = {"xprof.collector": ("xprof.agent", "xprof.dashboard"),
             "xprof.agent": ("xprof.dashboard",),
             "xprof.dashboard": ("xprof.agent",)}
COMMAND_FILES = {"xprof/cli.py", "xprof/__init__.py", "agent/cli.py", "collector/cli.py",
                 "dashboard/cli.py"}
MAX_LINES = 600


@dataclass(frozen=True)
class Module:
    name: str  # xprof.dashboard.queries
    path: Path
    is_package: bool

    @property
    def where(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def part(self) -> str | None:
        """xprof.agent / xprof.collector / xprof.dashboard, or None on the ground floor."""
        return next((p for p in PARTS if self.name == p or self.name.startswith(p + ".")),
                    None)

    @property
    def is_command(self) -> bool:
        """The top floor: command modules and the public facade may import anything."""
        return self.where in COMMAND_FILES or self.path.name.endswith("_cli.py")


@dataclass(frozen=True)
class Import:
    source: Module
    line: int
    target: str  # the module imported (a package, a module, or for `from m import x`: m.x
    #              when that is a module, else m)
    names: tuple[str, ...]  # the names of `from m import a, b`; () for `import m`
    module: str  # m itself

    @property
    def where(self) -> str:
        return f"{self.source.where}:{self.line}"


@functools.cache
def modules() -> dict[str, Module]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join((package, *parts))
            found[name] = Module(name, path, is_package)
    return found


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module of ``from <level dots><node.module> import ...``."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.cache
def imports() -> tuple[Import, ...]:
    """Every import of every module onto xprof's own modules, wherever it stands."""
    known = modules()
    found = []
    for module in known.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(module, node.lineno, alias.name, (), alias.name)
                          for alias in node.names if alias.name.split(".")[0] == "xprof"]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node)
                if base.split(".")[0] != "xprof":
                    continue
                names = tuple(alias.name for alias in node.names)
                submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
                for target in submodules or [base]:
                    found.append(Import(module, node.lineno, target, names, base))
    return tuple(found)


def _part_of(name: str) -> str | None:
    return next((p for p in PARTS if name == p or name.startswith(p + ".")), None)


def _report(problems: list[str], what_to_do: str) -> str:
    return f"{len(problems)} problem(s); {what_to_do}\n  " + "\n  ".join(problems)


def test_the_ground_floor_imports_no_part():
    """xprof/ (store, schema, settings, formatting, delivery, ...) never imports
    xprof.agent, xprof.collector or xprof.dashboard, not even inside a function."""
    problems = [f"{i.where}: {i.source.name} imports {i.target}" for i in imports()
                if i.source.part is None and not i.source.is_command
                and _part_of(i.target) is not None]
    assert not problems, _report(problems, (
        "the ground floor must not import a part: move the shared piece down a floor "
        "(into xprof/), or move the importing code up into the part or a command module"))


def test_parts_import_each_other_only_as_designed():
    """collector imports neither agent nor dashboard; agent imports no dashboard; dashboard
    imports no agent. Command modules (cli.py, *_cli.py) may import anything."""
    problems = []
    for i in imports():
        part = i.source.part
        if part is None or i.source.is_command:
            continue
        target = _part_of(i.target)
        if target in FORBIDDEN.get(part, ()):
            problems.append(f"{i.where}: {i.source.name} ({part}) imports {i.target}")
    assert not problems, _report(problems, (
        "a part may not import that part: move the shared piece down to the ground floor "
        "(xprof/), or let a command module (cli.py, *_cli.py) join the two"))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) for every strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_round(graph, group) for group in groups]


def _path_round(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """The shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [*group, start]  # not reached: a strongly connected group has a cycle


def test_no_import_cycles():
    """No module reaches itself through imports (any import, in any function)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for i in imports():
        if i.target in known and i.target != i.source.name:
            graph.setdefault(i.source.name, set()).add(i.target)
            lines.setdefault((i.source.name, i.target), i.where)
    problems = []
    for cycle in _cycles(graph):
        steps = [f"{a} -> {b} ({lines[(a, b)]})" for a, b in itertools.pairwise(cycle)]
        problems.append("cycle: " + "; ".join(steps))
    assert not problems, _report(problems, (
        "break each cycle by moving the piece both sides need down a floor into its own "
        "module (never by moving an import into a function)"))


def test_no_private_names_imported_across_modules():
    """``from m import _name`` is how one module borrows another's internals: make the name
    public (in a module named for what it does) instead."""
    problems = [f"{i.where}: {i.source.name} imports {name} from {i.module}" for i in imports()
                for name in i.names
                if name.startswith("_") and not name.startswith("__")
                and i.module != i.source.name]
    assert not problems, _report(problems, (
        "a private name stays in its module: make it public (drop the underscore) in a "
        "shared module named for what it does, or move the caller beside it"))


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_no_module_over_600_lines(folder):
    """Small modules: none of the package's source files passes 600 lines."""
    problems = [f"{m.where}: {n} lines" for m in modules().values()
                if m.where.startswith(folder + "/")
                and (n := len(m.path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not problems, _report(problems, (
        f"split each into modules named for what they do (aim for ~300 lines, at most "
        f"{MAX_LINES})"))


def test_the_checks_see_every_package():
    """The walk above finds the four packages and their imports (a guard against checking
    nothing after a move)."""
    names = modules()
    assert {"xprof.store", "xprof.agent", "xprof.collector", "xprof.dashboard",
            "xprof.dashboard.queries"} <= set(names)
    assert any(i.source.name == "xprof.dashboard.queries" and i.target == "xprof.store"
               for i in imports())
