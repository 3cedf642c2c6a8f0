"""The package's import graph has no cycles, function-level imports included (a cycle hidden behind
an import inside a function is still a cycle: it only moves the failure to run time; imports under
``if TYPE_CHECKING`` are annotations and do not count), and every module imports on its own in a
fresh interpreter."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pixelproof
from pixelproof.resources import suites_dir

PACKAGE = Path(pixelproof.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "suites" not in p.parts}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ours that ``name`` imports, anywhere in its body (``from a import b`` counts as
    ``a.b`` when that is a module, else ``a``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # annotations only: no import happens at run time
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {m for m in found if m in known and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    """Parsed once per process: two tests read it."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# Run in a fresh interpreter by the test below. Importing ``a.b.c`` alone imports package ``a.b``
# alone first, whole, and only then runs c's body. Third-party packages load once, first (every
# module imported, then every pixelproof module forgotten), as the loop this replaces left them
# loaded from module to module. Then each module is imported in one of two ways:
# - in turn, every pixelproof module (the packages too) forgotten before each, as the loop did:
#   the modules of a package whose __init__ imports nothing of ours at run time (the top package,
#   fuzz, judging, mock, report...), where a fork would save nothing and cost ~12 ms of CPU
#   (its own system time, and the pages its imports then copy);
# - in a child forked from a process that has imported its package alone (os.fork: the memory as
#   it is, no re-import): the modules of a package whose own imports are worth sharing (_shared:
#   catalogue, cli, surfaces), which then run once, not once per module in it. Such a package
#   is itself imported alone in a child forked from a process holding nothing of ours.
IMPORT_ALONE = """
import gc, importlib, json, os, sys
names, shared = json.loads(sys.argv[1])

def forget():
    for loaded in [k for k in sys.modules if k == "pixelproof" or k.startswith("pixelproof.")]:
        del sys.modules[loaded]

for name in names:
    importlib.import_module(name)
forget()
gc.collect()
gc.freeze()  # the collector never walks what the children share: no page is copied for it
inside = {}
for name in names:
    inside.setdefault(name.rpartition(".")[0], []).append(name)
read, write = os.pipe()

def imported(name):
    try:
        importlib.import_module(name)
        return True
    except BaseException as exc:
        os.write(write, f"{name}: {exc!r}\\n".encode())
        return False

def in_a_child(name, then=None):
    # ``name`` imported alone in a child of this process (which holds its package alone), then
    # ``then`` there
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if imported(name):
                if then is not None:
                    then()
                code = 0
        except BaseException as exc:
            os.write(write, f"{name}: {exc!r}\\n".encode())
        finally:
            os._exit(code)
    if os.waitpid(pid, 0)[1] != 0:
        os.write(write, f"{name}: its child exited with an error\\n".encode())

def forked(package):
    # a shared package alone in a child, and each of its modules in a child of that one
    def members():
        for name in sorted(inside.get(package, []), key=lambda n: n not in shared):
            if name in shared:
                forked(name)  # forked while this process still holds ``package`` alone
            else:
                in_a_child(name)
        for name in inside.get(package, []):  # subpackages' modules in turn: no fork after
            if name not in shared:
                in_turn(inside.get(name, []))
    in_a_child(package, members)

def in_turn(members):
    # each alone: after every module of ours is forgotten, or in a child if a shared package
    for name in members:
        forget()
        if name in shared:
            forked(name)
        else:
            imported(name)
            in_turn(inside.get(name, []))

in_turn(inside[""])
os.close(write)
with os.fdopen(read) as problems:
    print(problems.read(), end="")
"""


def _shared(edges: dict[str, set[str]]) -> list[str]:
    """Packages whose __init__ imports modules of ours at run time (not its own submodules):
    their modules are forked from a process holding the package (IMPORT_ALONE)."""
    return sorted(
        name for name, path in _modules().items()
        if path.name == "__init__.py" and edges[name] - {name.rpartition(".")[0]}
    )  # fmt: skip


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module is imported with no other module of ours loaded but the packages it sits in
    (which importing it alone loads first): in turn after every module of ours is forgotten, or
    in a process forked for it from one holding its package alone (IMPORT_ALONE). The loop
    this replaces dropped every pixelproof module and imported the next one afresh: each of the
    108 re-ran its packages and their pydantic models, ~5.5 CPU-s."""
    names = sorted(n for n in graph() if not n.endswith("__main__"))  # __main__ runs the CLI
    shared = _shared(graph())
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALONE, json.dumps([names, shared])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_no_test_module_shares_a_name_with_a_suite_module() -> None:
    """``pixelproof run`` nests in a test's process (conftest.pixelproof_inprocess) and imports the
    suites' modules by their file names: a ``tests/`` module of the same name would be found instead
    and the run would stop with an import mismatch."""
    ours = {p.name for p in Path(__file__).parent.glob("*.py")}
    suites = {p.name for p in suites_dir().glob("*.py")}
    assert not ours & suites, sorted(ours & suites)
