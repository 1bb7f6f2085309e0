"""What a student's code says that an instructor should hear of, read from its source.

Grades never depend on this (the tests run in the grader's own kernel: see
:mod:`genlearn.grading.execute`); it reports. The runtime guard (:mod:`genlearn.grading.guard`)
sees what code *does*; this reads what it *says*. Findings are ``tamper`` (an operation that
exists to change how code runs or to reach into the interpreter, which no answer needs:
reported as tampering) or ``review`` (something an honest notebook could plausibly do, for
the instructor to glance at). Honest idioms are neither: ``IPython.display`` for progress
output, magics such as ``%time`` and ``%matplotlib``, strings and comments that name hooks,
``inspect.signature``, ``exec`` of nothing at all.
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
    "exit": "exits the kernel", "quit": "exits the kernel",
}
_REVIEW_CALLS = {  # plausible in an honest notebook: reported for a look, not as tampering
    "exec": "runs code built from text", "eval": "runs code built from text",
    "compile": "compiles code at run time", "__import__": "imports by name at run time",
    "globals": "reaches the notebook's namespace",
}
_SHELL_HOOKS = {  # IPython shell attributes that decide how cells run: reaching them from get_ipython()
    "events", "input_transformers_cleanup", "input_transformers_post", "ast_transformers", "set_custom_exc",
    "custom_exceptions", "run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback",
    "_showtraceback", "user_ns", "user_global_ns", "kernel", "displayhook", "display_pub",
    "input_transformer_manager", "excepthook", "register_magic_function",
}
_MODULES = {  # imported module -> severity
    "ctypes": TAMPER, "_ctypes": TAMPER, "gc": TAMPER, "builtins": TAMPER, "__main__": TAMPER,
    "ipykernel": TAMPER, "sys.monitoring": TAMPER,
    "IPython": REVIEW, "traitlets": REVIEW, "importlib": REVIEW, "signal": REVIEW,
}
_HONEST_MODULES = ("IPython.display", "IPython.core.display")  # display(), clear_output(), HTML, ...
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


def free_names(source: str) -> list[str]:
    """The names a cell reads that it never binds itself (anywhere in it: assignments, loops,
    definitions, arguments, imports), builtins aside: what it needs from elsewhere. Names a
    cell binds are its own business, and are not asked of anyone (a hidden test's variable
    names must not reach the student's kernel)."""
    import builtins

    tree = _parse(source)
    if tree is None:
        return []
    read, bound = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (read if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            bound.update(n.names)
    return sorted(n for n in read - bound if not hasattr(builtins, n))


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
    tree = _parse(source)
    if tree is None:
        return found  # it will fail when it runs
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _CALLS:
                found.append(Finding(TAMPER, line, f"{_CALLS[name]} ({name})"))
            elif name in _REVIEW_CALLS:
                found.append(Finding(REVIEW, line, f"{_REVIEW_CALLS[name]} ({name})"))
            elif name in ("setattr", "delattr") and node.args and _root(node.args[0]) in imports:
                found.append(Finding(REVIEW, line, f"changes an attribute of {_root(node.args[0])} ({name})"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in modules:
                top = mod.split(".")[0]
                honest = any(mod == h or mod.startswith(h + ".") for h in _HONEST_MODULES) or (
                    isinstance(node, ast.ImportFrom) and mod == "IPython"
                    and all(a.name in ("display", "get_ipython") for a in node.names))
                severity = None if honest else _MODULES.get(mod) or _MODULES.get(top)
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
    calls_shell = any(isinstance(n, ast.Call) and _dotted(n.func) == "get_ipython" for n in ast.walk(tree))
    if calls_shell:  # magics become get_ipython().run_line_magic(...): only the hooks are reported
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in _SHELL_HOOKS:
                found.append(Finding(TAMPER, node.lineno, f"reaches IPython's {node.attr} (get_ipython)"))
    return sorted(set(found), key=lambda f: (f.line, f.what))
