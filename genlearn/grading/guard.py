"""A report, not a verdict: an audit hook in the student's kernel that tells the instructor when
student code tries to change how code runs.

Tests no longer run in the student's kernel (:mod:`genlearn.grading.execute` runs them in the
grader's own kernel and calls the student's functions across :mod:`genlearn.grading.bridge`),
so nothing here decides a score. What it is for: an instructor still hears of a submission
that patched libraries, hooked IPython or searched memory, because that is worth a look. The
grader loads this module into the student's kernel first; :func:`install` takes a snapshot of
the interpreter and adds a ``sys.addaudithook`` hook, which Python lets no later code remove.
The hook

* records the audited operations that tampering needs when student code performs them:
  ``sys.settrace``/``setprofile``, frames (``sys._getframe``, ``tb_frame``), reading
  ``__code__``, patching functions or library classes, building code or functions,
  ``exec``/``compile``, signals;
* on what could reach its own key (searching the garbage collector, ``ctypes``,
  ``/proc/self/mem``, another audit hook, or touching frames while the hook itself runs)
  writes one last signed line saying so and destroys the key, so no later line can be
  signed; the kernel goes on;
* answers the grader's checks, sent around every test cell, by comparing the interpreter
  with the snapshot: IPython's transformers, event callbacks, exception handlers and methods;
  ``sys`` hooks; builtins; the functions and classes of numpy, torch, math, traitlets and
  genlearn; the names the notebook's locked cells define; new threads.

Each answer is one line in a file the grader reads, signed with HMAC-SHA256 under a key read
from a file that is deleted before student code runs; only the signer's closures, which the
hook calls, hold it. The hook never raises, never calls student code (identity comparisons
only) and uses only functions its parts captured while :func:`install` ran. Student code can stop answers from coming, never forge a clean one;
the grader reports a missing answer too.
"""

from __future__ import annotations

# Modules whose functions student code is reported for patching (c.SandboxedExecute.guarded_modules;
# the kernels' template, genlearn.grading.forkserver, imports them before any kernel starts).
DEFAULT_GUARDED_MODULES = (
    "math", "copy", "time", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn",
    "torch.nn.functional", "torch.autograd", "torch.linalg", "torch.testing", "torch.distributions",
    "torch.optim",
    "genlearn", "genlearn.data", "genlearn.metrics", "genlearn.models", "genlearn.ethics",
    "genlearn.train", "genlearn.grading.checks", "traitlets.traitlets",
)
_REPORTED = {  # audited operations that change or spy on how tests run, when student code does them
    "sys.settrace": "sets a trace function (sys.settrace)",
    "sys.setprofile": "sets a profile function (sys.setprofile)",
    "sys._getframe": "inspects interpreter frames (sys._getframe)",
    "object.__getattr__": "reads a protected attribute",
    "object.__setattr__": "patches a function or a library class",
    "object.__delattr__": "deletes an attribute of a function or a library class",
    "function.__new__": "builds a function from a code object",
    "code.__new__": "builds a code object",
    "exec": "runs dynamically built code (exec/eval)",
    "compile": "compiles code at run time (compile/exec/eval)",
    "os.kill": "sends a signal (os.kill)",
    "os.killpg": "sends a signal (os.killpg)",
    "signal.pthread_kill": "sends a signal (signal.pthread_kill)",
}
_FATAL = {  # could reach the hook's key: the kernel ends at once
    "gc.get_objects": "searches the garbage collector (gc.get_objects)",
    "gc.get_referrers": "searches the garbage collector (gc.get_referrers)",
    "gc.get_referents": "searches the garbage collector (gc.get_referents)",
    "sys.addaudithook": "adds an audit hook",
}
_NOTES = {  # worth telling the instructor; the sandbox contains them
    "subprocess.Popen": "starts a process", "os.system": "runs a shell command",
    "os.posix_spawn": "starts a process", "os.exec": "replaces the kernel process", "os.fork": "forks",
    "os.forkpty": "forks", "socket.connect": "opens a network connection", "socket.bind": "binds a socket",
}
_FRAME_ATTRS = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_code", "f_code")
_BEHAVIOUR_TRAITS = (  # IPython shell traits that decide how a cell is turned into code and run
    "ast_transformers", "input_transformers_post", "input_transformer_manager", "display_formatter",
    "displayhook_class", "display_pub_class", "compiler_class", "data_pub_class", "magics_manager",
    "prefilter_manager", "extension_manager", "loop_runner", "builtin_trap", "display_trap", "exiter",
    "payload_manager", "history_manager", "kernel")
SEPARATOR, ITEM = "\x1e", "\x1f"


def install(secret_path: str, report_path: str, modules: list[str], trusted_dirs: list[str]) -> None:
    """Snapshot the interpreter and install the hook. Must run before any student code.

    Read in order: the key is taken from its file, the modules the tests call are loaded, the
    trust rules and the snapshot are made, then the checks that compare the interpreter with the
    snapshot, the signer that holds the key, the classifier of audit events, and the hook that
    ties them together. Every part below is built here, before student code runs, and captures
    the builtins and functions it will call: nothing the hook runs looks up a module global or
    a builtin later, where student code could have replaced it. The key lives only in the
    signer's closure (this frame's reference ends when ``install`` returns)."""
    import sys

    secret, out_fd = _take_key(secret_path, report_path)
    shell = _load_modules(modules)
    trust = _trust_rules(trusted_dirs)
    snapshot = _snapshot(shell, modules)
    compare = _comparer(snapshot, trust)
    state = {"busy": False, "own": False, "revoked": False, "seq": 0, "events": [], "notes": []}
    send, die = _signer(secret, out_fd, state)
    respond = _responder(state, compare, send, snapshot["user_ns"], snapshot["protected"])
    classify = _classifier(state, die, _caller_finder(state, trust["is_trusted"]))
    sys.addaudithook(_hook(state, respond, classify, die))
    send("", "installed", [], [])


def _take_key(secret_path: str, report_path: str):
    """The key (read, then its file deleted before student code runs) and the report's descriptor."""
    import os

    with open(secret_path, "rb") as f:
        secret = bytearray(f.read())  # zeroed in place if anything could reach it
    os.unlink(secret_path)
    if len(secret) < 32:
        raise RuntimeError("guard: the key file is empty")
    return secret, os.open(report_path, os.O_WRONLY | os.O_APPEND)


def _load_modules(modules: list[str]):
    """Import what the tests call, so its functions are in the snapshot; return the IPython shell."""
    import importlib

    from IPython import get_ipython

    shell = get_ipython()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    return shell


def _trust_rules(trusted_dirs: list[str]) -> dict:
    """Which code is trusted: files under ``trusted_dirs`` (and frozen modules); as a dict of
    closures, ``is_trusted(filename)``, ``trusted_callable(cb)`` and ``wraps(new, original)``."""
    import types

    type_, str_, range_ = type, str, range
    functype, methodtype = types.FunctionType, types.MethodType
    odict = object.__getattribute__
    trusted = tuple(d.rstrip("/") + "/" for d in trusted_dirs)
    missing = object()

    def is_trusted(filename) -> bool:
        return type_(filename) is str_ and (filename.startswith(trusted) or filename.startswith("<frozen"))

    def trusted_callable(cb) -> bool:
        """A function, method or callable object whose code lives in trusted files."""
        if type_(cb) is methodtype:
            cb = cb.__func__
        if type_(cb) is not functype:
            cb = type_(cb).__call__  # a callable object: its class's __call__
            if type_(cb) is not functype:
                return False
        return is_trusted(cb.__code__.co_filename)

    def wraps(new, original) -> bool:
        """Library code may wrap its own functions later (torch._dynamo wraps torch.manual_seed
        when it is first imported): a trusted function whose __wrapped__ chain leads back to the
        original still does what the original did."""
        for _ in range_(8):
            if type_(new) is not functype or not is_trusted(new.__code__.co_filename):
                return False
            new = odict(new, "__dict__").get("__wrapped__", missing)
            if new is original:
                return True
        return False

    return {"is_trusted": is_trusted, "trusted_callable": trusted_callable, "wraps": wraps}


def _snapshot(shell, modules: list[str]) -> dict:
    """What the checks compare with later: ``sys``, ``threading`` and builtins, the watched
    modules and classes, and the IPython shell's parts (:func:`_shell_snapshot`)."""
    import builtins
    import sys
    import threading

    mdict = type(sys).__dict__["__dict__"].__get__  # a module's real __dict__
    snap = _shell_snapshot(shell)
    snap["watched"] = _watched(shell, modules)
    snap["builtins_dict"] = builtins_dict = mdict(builtins)
    snap["builtin_values"] = {k: v for k, v in builtins_dict.items() if k not in ("input", "raw_input")}  # per request
    snap["sys_modules"] = sys.modules
    snap["sys_dict"] = sys_dict = mdict(sys)
    snap["sys_hooks"] = {n: sys_dict.get(n) for n in ("meta_path", "path_hooks", "audit", "modules", "settrace",
                                                      "setprofile")}
    snap["threading_dict"] = threading_dict = mdict(threading)
    snap["thread_hooks"] = {n: threading_dict.get(n) for n in ("_trace_hook", "_profile_hook")}
    snap["threads_before"] = set(threading.enumerate())
    snap["protected"] = {}  # names of locked cells, filled when the grader registers them
    return snap


def _watched(shell, modules: list[str]) -> list:
    """(label, namespace, {name: value}): the modules and classes whose contents tests rely on."""
    import sys

    mdict = type(sys).__dict__["__dict__"].__get__
    tdict = type.__dict__["__dict__"].__get__  # a class's real __dict__
    watched = []
    names = set(modules) | {m for m in sys.modules if m == "genlearn" or m.startswith("genlearn.")}
    for name in sorted(names):
        mod = sys.modules.get(name)
        if type(mod) is type(sys):
            watched.append((name, mod, dict(mdict(mod))))
    for cls in _classes_to_watch(shell):
        watched.append((cls.__module__ + "." + cls.__qualname__, cls, dict(tdict(cls))))
    return watched


def _shell_snapshot(shell) -> dict:
    """The IPython shell's state: its instance dict, the traits that decide how a cell runs, the
    input transformer manager, the transformer lists, event callbacks, and the kernel's parts
    that talk to the grader (each with its instance dict then)."""
    import sys

    odict = object.__getattribute__
    shell_dict = odict(shell, "__dict__")
    kernel_parts = []
    kernel = shell_dict.get("_trait_values", {}).get("kernel")
    for label, obj in (("kernel", kernel), ("kernel's session", getattr(kernel, "session", None)),
                       ("stdout's session", getattr(sys.stdout, "session", None)),
                       ("display publisher", getattr(shell, "display_pub", None)),
                       ("display hook", getattr(shell, "displayhook", None))):
        try:
            kernel_parts.append((label, obj, dict(odict(obj, "__dict__"))))
        except (AttributeError, TypeError):
            pass
    traits = shell_dict.get("_trait_values", {})
    manager = traits.get("input_transformer_manager") or shell_dict.get("input_transformer_manager")
    manager_dict = odict(manager, "__dict__")
    lists = []  # (label, list object, its items then)
    for label, d in (("shell", traits), ("shell", shell_dict), ("input_transformer_manager", manager_dict)):
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                     "cleanup_transforms", "line_transforms", "token_transformers"):
            value = d.get(attr)
            if type(value) is list:
                lists.append((label + "." + attr, value, tuple(value)))
    events = traits.get("events") or shell_dict.get("events")
    events_dict = odict(events, "__dict__")
    callbacks = events_dict.get("callbacks")
    return {"shell": shell, "shell_dict": shell_dict, "shell_values": dict(shell_dict), "kernel_parts": kernel_parts,
            "traits": traits, "trait_values": {k: traits[k] for k in _BEHAVIOUR_TRAITS if k in traits},
            "manager": manager, "manager_dict": manager_dict, "manager_values": dict(manager_dict), "lists": lists,
            "events": events, "events_dict": events_dict, "callbacks": callbacks,
            "callback_values": {ev: (cbs, tuple(cbs)) for ev, cbs in callbacks.items()}, "user_ns": shell.user_ns}


def _comparer(snap: dict, trust: dict):
    """``compare()``: the list of what changed since the snapshot, in a fixed order: trace and
    profile functions and hooks, the IPython shell, then the libraries, locked names and threads."""
    import sys

    gettrace, getprofile = sys.gettrace, sys.getprofile
    same_items, compare_dict = _identity_comparisons(trust["wraps"])
    check_hooks = _hook_checks(snap, compare_dict, trust["trusted_callable"])
    check_shell = _shell_checks(snap, same_items, compare_dict, trust["trusted_callable"])
    check_libraries = _library_checks(snap, compare_dict, trust)

    def compare() -> list:
        found = []
        if gettrace() is not None:
            found.append("a trace function is set (sys.settrace)")
        if getprofile() is not None:
            found.append("a profile function is set (sys.setprofile)")
        check_hooks(found)
        check_shell(found)
        check_libraries(found)
        return found

    return compare


def _identity_comparisons(wraps):
    """``same_items(now, then)`` for sequences and ``compare_dict(label, now, then, found, added)``
    for namespaces: identity, never equality (equality would call student code)."""
    type_, str_, functype, len_, zip_ = type, str, type(_identity_comparisons), len, zip
    missing = object()

    def same_items(now, then) -> bool:
        if len_(now) != len_(then):
            return False
        for a, b in zip_(now, then):
            if a is not b:
                return False
        return True

    def compare_dict(label, now, then, found, added=False) -> None:
        """Identity of every entry; ``added``: also report new entries that are dunders or functions."""
        for k, v in then.items():
            value = now.get(k, missing)
            if value is not v and not wraps(value, v):
                found.append(label + "." + k + " was replaced")
        if added:
            for k, v in now.items():
                if type_(k) is not str_:
                    found.append(label + " has a non-text key")
                elif then.get(k, missing) is missing and (k.startswith("__") or type_(v) is functype):
                    found.append(label + "." + k + " was added")

    return same_items, compare_dict


def _hook_checks(snap: dict, compare_dict, trusted_callable):
    """The shell's and the event manager's state objects, and the hooks of ``sys`` and ``threading``."""
    type_, builtin_fn = type, type(len)
    odict = object.__getattribute__
    shell, events, manager, user_ns = snap["shell"], snap["events"], snap["manager"], snap["user_ns"]
    shell_dict, events_dict, manager_dict = snap["shell_dict"], snap["events_dict"], snap["manager_dict"]
    callbacks, sys_dict, sys_hooks = snap["callbacks"], snap["sys_dict"], snap["sys_hooks"]
    threading_dict, thread_hooks = snap["threading_dict"], snap["thread_hooks"]
    hook_names = ("excepthook", "displayhook", "breakpointhook", "unraisablehook")  # IPython swaps these itself

    def check_hooks(found: list) -> None:
        if odict(shell, "__dict__") is not shell_dict or odict(events, "__dict__") is not events_dict \
                or odict(manager, "__dict__") is not manager_dict or events_dict.get("callbacks") is not callbacks \
                or shell_dict.get("_user_ns", user_ns) is not user_ns or shell_dict.get("user_ns", user_ns) is not user_ns:
            found.append("the IPython shell's state was replaced")
        compare_dict("sys", sys_dict, sys_hooks, found)
        for n in hook_names:
            h = sys_dict.get(n)
            if h is not None and type_(h) is not builtin_fn and not trusted_callable(h):
                found.append("sys." + n + " was replaced by student code")
        compare_dict("threading", threading_dict, thread_hooks, found)

    return check_hooks


def _shell_checks(snap: dict, same_items, compare_dict, trusted_callable):
    """IPython's behaviour traits, methods set on the shell or the kernel's parts, the input
    manager, the transformer lists and the event callbacks."""
    type_, str_, callable_, issubclass_, any_ = type, str, callable, issubclass, any
    odict = object.__getattribute__
    missing = object()
    traits, trait_values, shell_dict, shell_values = (snap["traits"], snap["trait_values"], snap["shell_dict"],
                                                      snap["shell_values"])
    kernel_parts, manager_dict, manager_values = snap["kernel_parts"], snap["manager_dict"], snap["manager_values"]
    lists, callbacks, callback_values = snap["lists"], snap["callbacks"], snap["callback_values"]

    def check_shell(found: list) -> None:
        compare_dict("IPython shell", traits, trait_values, found)
        for k, v in shell_dict.items():  # methods set on the instance shadow the class's
            if type_(k) is str_ and callable_(v) and shell_values.get(k, missing) is not v \
                    and not issubclass_(type_(v), type_):
                found.append("the IPython shell's " + k + " was replaced")
        for label, obj, then in kernel_parts:  # a method set on the instance replaces the class's
            for k, v in odict(obj, "__dict__").items():
                if type_(k) is str_ and callable_(v) and then.get(k, missing) is not v \
                        and not issubclass_(type_(v), type_) and not trusted_callable(v):
                    found.append("the " + label + "'s " + k + " was replaced")
        compare_dict("IPython input manager", manager_dict, manager_values, found)
        for label, value, items in lists:
            if not same_items(value, items):
                found.append("IPython " + label + " changed (code that rewrites cells before they run)")
        for ev, cbs in callbacks.items():
            then = callback_values.get(ev, (None, ()))
            if cbs is not then[0] or not same_items(cbs, then[1]):
                for cb in cbs:
                    if not any_(cb is b for b in then[1]) and not trusted_callable(cb):
                        found.append("an IPython '" + str_(ev) + "' event callback was registered")

    return check_shell


def _library_checks(snap: dict, compare_dict, trust: dict):
    """Builtins, the watched modules and classes (and their ``sys.modules`` entries), the names
    of locked cells, and threads started since the snapshot."""
    import sys
    import threading

    type_, str_, functype = type, str, type(_library_checks)
    modtype, threadtype = type(sys), threading.Thread
    mdict = type(sys).__dict__["__dict__"].__get__
    tdict = type.__dict__["__dict__"].__get__
    odict = object.__getattribute__
    thread_run, enumerate_threads = threading.Thread.run, threading.enumerate
    is_trusted, trusted_callable = trust["is_trusted"], trust["trusted_callable"]
    builtins_dict, builtin_values, watched = snap["builtins_dict"], snap["builtin_values"], snap["watched"]
    sys_modules, user_ns, protected = snap["sys_modules"], snap["user_ns"], snap["protected"]
    threads_before = snap["threads_before"]
    missing = object()

    def trusted_thread(t) -> bool:
        run = tdict(type_(t)).get("run", thread_run) if type_(t) is not threadtype else thread_run
        if run is not thread_run:
            return type_(run) is functype and is_trusted(run.__code__.co_filename)
        target = odict(t, "__dict__").get("_target")
        return target is None or trusted_callable(target)

    def check_libraries(found: list) -> None:
        compare_dict("builtins", builtins_dict, builtin_values, found)
        for label, owner, values in watched:
            now = mdict(owner) if type_(owner) is modtype else tdict(owner)
            compare_dict(label, now, values, found, added=True)
            if type_(owner) is modtype and label in sys_modules and sys_modules.get(label) is not owner:
                found.append("sys.modules['" + label + "'] was replaced")
        for name, value in protected.items():
            if user_ns.get(name, missing) is not value:
                found.append("'" + name + "', defined in a locked cell the tests use, was redefined")
        for t in enumerate_threads():
            if t not in threads_before and not trusted_thread(t):
                found.append("student code runs a thread beside the tests")

    return check_libraries


def _signer(secret: bytearray, out_fd: int, state: dict):
    """``send(nonce, phase, findings, notes)`` writes one line signed with the key; ``die(why)``
    writes a last signed line and destroys the key. These two closures are the key's only holders."""
    import _hashlib
    import os

    write, digest = os.write, _hashlib.hmac_digest
    str_, repr_, len_, range_ = str, repr, len, range
    sep, item = SEPARATOR, ITEM

    def clean(text) -> str:
        return "".join(c if " " <= c < "\x7f" else "?" for c in str_(text))[:300]

    def send(nonce: str, phase: str, findings: list, notes: list) -> None:
        if state["revoked"]:
            return
        state["seq"] += 1
        body = sep.join([repr_(state["seq"]), clean(nonce), clean(phase),
                         item.join(clean(x) for x in findings[:50]), item.join(clean(x) for x in notes[:50])])
        mac = digest(secret, body.encode(), "sha256").hex()
        write(out_fd, (body + "\t" + mac + "\n").encode())

    def die(why: str) -> None:
        """Something could reach the key: say so with a last signed line, then destroy the key, so
        that no later line can be signed (the grader reports the silence too). The kernel goes on:
        grades never depend on the guard."""
        if state["revoked"]:
            return
        send("", "fatal", [why], [])
        state["revoked"] = True
        for i in range_(len_(secret)):
            secret[i] = 0

    return send, die


def _responder(state: dict, compare, send, user_ns: dict, protected: dict):
    """``respond(args)`` answers the grader's ``genlearn.guard`` event: ``register`` first records
    the locked cells' names, then every phase sends the comparison and the events seen since."""
    type_, str_, tuple_, base_exception = type, str, tuple, BaseException
    missing = object()

    def respond(args) -> None:
        nonce, phase, extra = (tuple_(args) + ("", "", ""))[:3]
        if type_(nonce) is not str_ or type_(phase) is not str_ or type_(extra) is not str_:
            return
        try:
            if phase == "register":
                for name in extra.split(","):
                    value = user_ns.get(name, missing)
                    if value is not missing:
                        protected[name] = value
            findings = compare()
        except base_exception:  # never let an exception (and its traceback) out of the hook
            findings = ["the guard could not read the interpreter's state"]
        findings = findings + state["events"]
        notes = state["notes"]
        state["events"], state["notes"] = [], []
        send(nonce, phase, findings, notes)

    return respond


def _caller_finder(state: dict, is_trusted):
    """``student_caller(through_imports)``: 'file:line' of the code that raised the event, or
    None when it is library code. ``through_imports``: an import's machinery is looked through
    to whoever imported."""
    import os
    import sys

    getframe, type_, str_, repr_ = sys._getframe, type, str, repr
    here = os.path.realpath(__file__)

    def student_caller(through_imports=False):
        state["own"] = True  # reading frames raises audit events of our own: let them pass
        try:
            f = getframe(3)  # 0 this, 1 classify, 2 hook, 3 whoever raised the event (C calls have no frame)
            while f is not None:
                name = f.f_code.co_filename
                if name == here or name == "<string>" or (
                        through_imports and type_(name) is str_ and name.startswith("<frozen importlib")):
                    f = f.f_back  # generated code, or the import machinery
                    continue
                return None if is_trusted(name) else name + ":" + repr_(f.f_lineno)
            return None
        finally:
            state["own"] = False

    return student_caller


def _classifier(state: dict, die, student_caller):
    """``classify(event, args)``: what an audited operation means when student code performs it:
    a fatal one destroys the key (``die``), a note (a process, a socket) goes to ``state["notes"]``,
    a reported one (tracing, frames, patching, building code) to ``state["events"]``."""
    type_, bytes_, str_, len_, issubclass_ = type, bytes, str, len, issubclass
    functype = type(_classifier)
    tdict = type.__dict__["__dict__"].__get__
    reported, fatal, notes_map = dict(_REPORTED), dict(_FATAL), dict(_NOTES)

    def classify(event, args) -> None:
        if event == "open":
            path = args[0] if len_(args) else None
            if type_(path) is bytes_:
                path = path.decode(errors="replace")
            if type_(path) is str_ and path.startswith("/proc/") and path.endswith(("/mem", "/environ")):
                die("opens " + path + " (the kernel's own memory)")
            return
        if event == "import":
            if len_(args) and args[0] in ("ctypes", "_ctypes") and student_caller(through_imports=True):
                die("imports ctypes (raw memory access)")
            return
        if event in fatal:
            if event == "sys.addaudithook" or student_caller():
                die(fatal[event])
            return
        where = student_caller()
        if where is None:
            return
        if event.startswith("ctypes."):
            die("calls ctypes (" + event + ") at " + where)
        if event in notes_map:
            state["notes"].append(notes_map[event] + " at " + where)
            return
        detail = ""
        if event in ("object.__setattr__", "object.__delattr__", "object.__getattr__"):
            target = args[0] if len_(args) else None
            detail = args[1] if len_(args) > 1 and type_(args[1]) is str_ else ""
            if event != "object.__getattr__":
                if issubclass_(type_(target), type_):
                    if tdict(target).get("__module__") == "__main__":
                        return  # a class the student defined: theirs to change
                elif not issubclass_(type_(target), functype):
                    return
        state["events"].append(reported.get(event, event) + (" " + detail if detail else "") + " at " + where)

    return classify


def _hook(state: dict, respond, classify, die):
    """The audit hook: the grader's ``genlearn.guard`` events go to ``respond``, the audited
    operations to ``classify``; while it runs, only its own code may touch frames or the collector.
    It never raises: an exception's traceback would lead back to it."""
    len_, base_exception = len, BaseException
    reported, fatal, notes_map = dict(_REPORTED), dict(_FATAL), dict(_NOTES)
    frame_attrs = frozenset(_FRAME_ATTRS)

    def hook(event, args):
        if state["busy"]:
            if event == "sys._getframe" or event in fatal or (
                    event == "object.__getattr__" and len_(args) > 1 and args[1] in frame_attrs):
                if not state["own"]:
                    die("touches frames or the collector while the guard runs")
            return
        if event == "genlearn.guard":
            handler = respond
        elif event in reported or event in fatal or event in notes_map or event == "open" \
                or event == "import" or event.startswith("ctypes."):
            handler = None
        else:
            return
        state["busy"] = True
        try:
            if handler is None:
                classify(event, args)
            else:
                handler(args)
        except base_exception:
            pass
        finally:
            state["busy"] = False

    return hook


def _classes_to_watch(shell) -> list:
    """Classes whose methods decide how a cell runs or what a test computes."""
    import sys

    classes = [c for c in type(shell).__mro__ if c is not object]
    manager = getattr(shell, "input_transformer_manager", None)
    if manager is not None:
        classes += [c for c in type(manager).__mro__ if c is not object]
    for module, attr in (("torch", "Tensor"), ("torch.nn", "Module"), ("traitlets.traitlets", "TraitType"),
                         ("traitlets.traitlets", "HasTraits"), ("traitlets.traitlets", "HasDescriptors"),
                         ("IPython.core.events", "EventManager")):
        cls = getattr(sys.modules.get(module), attr, None)
        if isinstance(cls, type):
            classes.append(cls)
    return classes
