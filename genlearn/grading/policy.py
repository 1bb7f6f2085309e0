"""What student code may not do while it is graded, read from its source before it runs.

The runtime guard (:mod:`genlearn.grading.guard`) sees what code *does*; this reads what it
*says*, so tampering written in a way that escapes one is still caught by the other. Each rule
names an operation that changes how tests run (or reaches into the interpreter to do so) and
that no answer to these exercises needs. Findings are ``tamper`` (the tests that run after the
cell score 0) or ``review`` (reported to the instructor, scores unchanged): the rules that an
honest notebook could plausibly trip, such as setting a library flag, only ask for review.

The same rules are stated to students in each assignment's introduction.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

TAMPER, REVIEW = "tamper", "review"

_CALLS = {  # dotted call target -> what it does
    "sys.settrace": "sets a trace function", "sys.setprofile": "sets a profile function",
    "threading.settrace": "sets a trace function for threads",
    "threading.setprofile": "sets a profile function for threads",
    "sys._getframe": "inspects interpreter frames", "sys.addaudithook": "adds an audit hook",
    "os._exit": "ends the kernel", "os.kill": "sends a signal", "os.killpg": "sends a signal",
    "signal.signal": "installs a signal handler", "signal.setitimer": "sets a signal timer",
    "signal.alarm": "sets a signal timer", "signal.pthread_kill": "sends a signal",
    "gc.get_objects": "searches the garbage collector", "gc.get_referrers": "searches the garbage collector",
    "gc.get_referents": "searches the garbage collector",
    "inspect.currentframe": "inspects interpreter frames", "inspect.stack": "inspects interpreter frames",
    "inspect.getouterframes": "inspects interpreter frames", "inspect.trace": "inspects interpreter frames",
    "exec": "runs code built from text", "eval": "runs code built from text",
    "compile": "compiles code at run time", "__import__": "imports by name at run time",
    "globals": "reaches the notebook's namespace", "exit": "exits the kernel", "quit": "exits the kernel",
    "get_ipython": "reaches into IPython",
}
_MODULES = {  # imported module -> severity
    "ctypes": TAMPER, "_ctypes": TAMPER, "gc": TAMPER, "builtins": TAMPER, "__main__": TAMPER,
    "IPython": TAMPER, "ipykernel": TAMPER, "traitlets": TAMPER, "sys.monitoring": TAMPER,
    "inspect": REVIEW, "importlib": REVIEW, "signal": REVIEW,
}
_ATTRS = {  # attribute names that reach interpreter internals
    "__code__", "__closure__", "__globals__", "__builtins__", "cell_contents", "f_back", "f_locals",
    "f_globals", "f_code", "tb_frame", "gi_frame", "cr_frame", "__subclasses__", "__func__",
    "__defaults__", "__kwdefaults__",
}
_ASSIGNED_SYS = {"excepthook", "displayhook", "modules", "meta_path", "path_hooks", "breakpointhook"}


@dataclass(frozen=True)
class Finding:
    severity: str   # TAMPER or REVIEW
    line: int       # in the cell
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def imported_names(sources: list[str]) -> dict[str, str]:
    """Name bound by an import anywhere in ``sources`` -> the module it came from."""
    names: dict[str, str] = {}
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def bound_names(source: str) -> list[str]:
    """The names a cell binds at top level (assignments, definitions, imports)."""
    tree = _parse(source)
    names: list[str] = []
    for node in tree.body if tree else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return sorted(set(names))


def used_names(source: str) -> list[str]:
    """The names a cell reads (anywhere in it, functions and lambdas included), builtins aside."""
    import builtins

    tree = _parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} if tree else set()
    return sorted(n for n in names if not hasattr(builtins, n))


def _parse(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager

    try:  # magics (%timeit, !ls) become Python first, as IPython would run them
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def scan(source: str, imports: dict[str, str] | None = None) -> list[Finding]:
    """Findings for one student cell. ``imports``: names the notebook imports (module patching)."""
    imports = imports or {}
    found: list[Finding] = []
    for lineno, line in enumerate(source.splitlines(), 1):
        if "get_ipython" in line and not line.lstrip().startswith("#"):
            found.append(Finding(TAMPER, lineno, "reaches into IPython (get_ipython)"))
    tree = _parse(source)
    if tree is None:
        return found  # it will fail when it runs
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _CALLS and name != "get_ipython":
                found.append(Finding(TAMPER, line, f"{_CALLS[name]} ({name})"))
            elif name in ("setattr", "delattr") and node.args and _root(node.args[0]) in imports:
                found.append(Finding(REVIEW, line, f"changes an attribute of {_root(node.args[0])} ({name})"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in modules:
                top = mod.split(".")[0]
                severity = _MODULES.get(mod) or _MODULES.get(top)
                if severity:
                    found.append(Finding(severity, line, f"imports {mod}"))
        elif isinstance(node, ast.Attribute) and node.attr in _ATTRS:
            found.append(Finding(TAMPER, line, f"reads interpreter internals ({node.attr})"))
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            found.append(Finding(TAMPER, line, "reaches the builtins (__builtins__)"))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if not isinstance(sub, ast.Attribute):
                        continue
                    dotted = _dotted(sub)
                    if dotted and dotted.startswith("sys.") and dotted[4:] in _ASSIGNED_SYS:
                        found.append(Finding(TAMPER, line, f"replaces {dotted}"))
                    elif sub.attr == "__class__" or sub.attr == "__dict__":
                        found.append(Finding(TAMPER, line, f"replaces {sub.attr}"))
                    elif _root(sub) in imports and sub is t:
                        found.append(Finding(REVIEW, line, f"changes {dotted or _root(sub)} (an imported name)"))
    return sorted(set(found), key=lambda f: (f.line, f.what))
