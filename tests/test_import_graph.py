"""The package's import graph has no cycles, function-level imports included (a cycle hidden behind
an import inside a function is still a cycle: it only moves the failure to run time; imports under
``if TYPE_CHECKING`` are annotations and do not count), and every module imports on its own in a
fresh interpreter."""

from __future__ import annotations

import ast
import functools
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
# alone first, whole, and only then runs c's body: so a process that has imported ``a.b`` alone
# is exactly where every module of ``a.b`` starts from, and a child forked from it (os.fork: the
# memory as it is, no re-import) imports one of them alone. The tree follows the packages, each
# child forking its own submodules' children, so a package's own imports run once, not once per
# module in it. Third-party packages load once before the tree (every module imported, then every
# pixelproof module forgotten), as the loop this replaces left them loaded from module to module.
# The top package's own modules share nothing a fork would save (its __init__ imports nothing of
# ours), so they are imported in turn, every pixelproof module (the package too) forgotten before
# each, as the loop did; a fork costs ~14 ms of system time.
IMPORT_ALONE = """
import gc, importlib, os, sys
names = sys.argv[1:]

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

def alone(package):
    # packages first: each is forked while this process holds ``package`` alone, untouched
    for name in sorted(inside.get(package, []), key=lambda n: n not in inside):
        if package == "pixelproof" and name not in inside:  # a plain module of the top package
            forget()
            try:
                importlib.import_module(name)
            except BaseException as exc:
                os.write(write, f"{name}: {exc!r}\\n".encode())
            continue
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
                alone(name)
            except BaseException as exc:
                os.write(write, f"{name}: {exc!r}\\n".encode())
                os._exit(1)
            os._exit(0)
        if os.waitpid(pid, 0)[1] != 0:
            os.write(write, f"{name}: its child exited with an error\\n".encode())

alone("")
os.close(write)
with os.fdopen(read) as problems:
    print(problems.read(), end="")
"""


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module is imported with no other module of ours loaded but the packages it sits in
    (which importing it alone loads first), in a process forked for it, or for a plain module of
    the top package after every module of ours is forgotten (IMPORT_ALONE). The loop
    this replaces dropped every pixelproof module and imported the next one afresh: each of the
    108 re-ran its packages and their pydantic models, ~5.5 CPU-s."""
    names = sorted(n for n in graph() if not n.endswith("__main__"))  # __main__ runs the CLI
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALONE, *names], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


def test_no_test_module_shares_a_name_with_a_suite_module() -> None:
    """``pixelproof run`` nests in a test's process (conftest.pixelproof_inprocess) and imports the
    suites' modules by their file names: a ``tests/`` module of the same name would be found instead
    and the run would stop with an import mismatch."""
    ours = {p.name for p in Path(__file__).parent.glob("*.py")}
    suites = {p.name for p in suites_dir().glob("*.py")}
    assert not ours & suites, sorted(ours & suites)
