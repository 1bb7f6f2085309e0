"""Drive JupyterLab in headless Chromium for the browser tests (and the Binder memory benchmark).

Three pieces, each usable on its own:

* :func:`require_browser` decides whether the browser tests can run. Where Playwright or
  Chromium is missing they skip with the reason, except under CI (``CI`` set), where they fail:
  CI installs both and must never skip these tests silently.
* :class:`LabServer` starts ``jupyter lab`` on 127.0.0.1, on a free port, without a token, with
  a fresh HOME and Jupyter config/settings/workspace folders (a reused one restores old tabs),
  news and update pop-ups off, and stops it by its own PID.
* Page helpers (:func:`open_notebook`, :func:`run_all`, :func:`widget_views`, ...) that wait on
  what JupyterLab shows rather than on fixed sleeps, and :class:`Evidence`, which saves
  screenshots of every checked view when a test fails.

Notes from measuring on these machines: /work/shared/notes/jupyter-testing.md.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Chromium from Debian (`apt-get install -y chromium`); `playwright install` downloads a browser
# and fails on these machines. GENLEARN_CHROMIUM points at another executable.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# JupyterLab plugins and settings that would put pop-ups over the page.
DISABLED_LAB_PLUGINS = {"@jupyterlab/apputils-extension:announcements": True}
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    # Render every cell: with windowing, cells far from the viewport are not in the page.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No saves behind the test's back: every save is the test's own Ctrl+S, awaited to its end.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# An output whose top element is an ipywidgets view (JupyterLab sets no mime type attribute on it).
WIDGET_VIEW = ".jp-OutputArea-output:has(> .jupyter-widgets)"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle'] >> visible=true"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_chromium() -> str | None:
    explicit = os.environ.get("GENLEARN_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; do not run `playwright install`)"
    if find_chromium() is None:
        return ("Chromium not found at /usr/bin/chromium (apt-get install -y chromium, "
                "or set GENLEARN_CHROMIUM to a Chromium executable)")
    return None


def require_browser() -> str:
    """Return Chromium's path; skip with the reason, or fail under CI, when the tests cannot run."""
    reason = browser_unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")
    return find_chromium()


def launch_chromium(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path, folders=("lessons", "exercises", "solutions"), files=("nbgrader_config.py",)) -> Path:
    """A temporary copy of the course for the server to serve: JupyterLab autosaves outputs into
    the notebooks it runs, and formgrader writes its gradebook beside nbgrader_config.py."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "gradebook.db")
    for folder in folders:
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=ignore, dirs_exist_ok=True)
    for name in files:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _merge_json(path: Path, update: dict) -> None:
    """Write ``update`` into the JSON file at ``path``, keeping what is already there (config a
    caller wrote first, e.g. with `jupyter labextension disable --level=user`)."""
    def merge(old: dict, new: dict) -> dict:
        for key, value in new.items():
            old[key] = merge(old.get(key) or {}, value) if isinstance(value, dict) else value
        return old

    current = json.loads(path.read_text()) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge(current, update), indent=1))


class LabServer:
    """``jupyter lab`` serving ``root_dir`` at ``self.url``; use as a context manager.

    Everything it writes (config, settings, workspaces, runtime files, its log) lives in
    ``home``; config already in ``home/.jupyter`` is kept. :meth:`stop` always ends the server by its own PID: SIGTERM (the server shuts
    its kernels down), then SIGKILL to its process group if it has not exited in time.
    """

    def __init__(self, root_dir: Path, home: Path, *, port: int | None = None, extra_env: dict | None = None):
        self.root_dir = Path(root_dir)
        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.home / "jupyterlab.log"
        self._opener = self._cookies = None

    # -- configuration -------------------------------------------------------------------
    def _write_config(self) -> dict:
        h = self.home
        dirs = {"JUPYTER_CONFIG_DIR": h / ".jupyter", "JUPYTER_RUNTIME_DIR": h / "runtime",
                "JUPYTERLAB_SETTINGS_DIR": h / "lab" / "user-settings",
                "JUPYTERLAB_WORKSPACES_DIR": h / "lab" / "workspaces", "IPYTHONDIR": h / ".ipython",
                "MPLCONFIGDIR": h / ".matplotlib"}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        server_config = {
            "ServerApp": {"ip": "127.0.0.1", "port": self.port, "port_retries": 0, "open_browser": False,
                          "root_dir": str(self.root_dir), "allow_root": True, "password": ""},
            "IdentityProvider": {"token": ""},
            "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
        }
        _merge_json(dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json", server_config)
        # nbgrader's exchange (release/collect) inside this run, not in /usr/local/share.
        (h / "exchange").mkdir(exist_ok=True)
        nbgrader_config = {"Exchange": {"root": str(h / "exchange")}}
        _merge_json(dirs["JUPYTER_CONFIG_DIR"] / "nbgrader_config.json", nbgrader_config)
        _merge_json(dirs["JUPYTER_CONFIG_DIR"] / "labconfig" / "page_config.json",
                    {"disabledExtensions": DISABLED_LAB_PLUGINS})
        for rel, settings in LAB_SETTINGS.items():
            path = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        env = dict(os.environ)
        env.update({k: str(v) for k, v in dirs.items()})
        env["HOME"] = str(h)
        env["GENLEARN_EXCHANGE"] = str(h / "exchange")  # the course's nbgrader_config.py reads it
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env.pop("JUPYTER_DATA_DIR", None)  # the user's data dir (kernels, lab extensions) would leak in
        env.update(self.extra_env)
        return env

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 90) -> "LabServer":
        self.home.mkdir(parents=True, exist_ok=True)
        env = self._write_config()
        log = open(self.log_path, "wb")
        # `python -m jupyterlab` rather than the `jupyter` launcher: the PID is the server's own.
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser"], cwd=self.root_dir,
                                     env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pid = self.proc.pid
        try:
            os.kill(pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)  # its own session: the server and the kernels it started
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- REST ----------------------------------------------------------------------------
    def api(self, method: str, path: str, body=None, timeout: float = 30):
        """Call the server's REST API; writes carry the XSRF cookie and header, as the page's do."""
        if self._opener is None:
            jar = http.cookiejar.CookieJar()
            self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            self._cookies = jar
        headers = {"Content-Type": "application/json"}
        if method != "GET":
            xsrf = next((c.value for c in self._cookies if c.name == "_xsrf"), None)
            if xsrf is None:
                self._opener.open(self.url + "/lab", timeout=timeout).read()
                xsrf = next((c.value for c in self._cookies if c.name == "_xsrf"), "")
            headers["X-XSRFToken"] = xsrf
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with self._opener.open(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def notebook(self, path: str, timeout_s: float = 20) -> dict:
        """The saved notebook, read from disk.

        Not through the contents API: a GET that meets a save half-written (jupyter_server
        writes in place after copying the old file to ``.~name``) "repairs" it by moving the
        file to ``name.invalid``, and two such GETs racing each other lose the notebook
        altogether (seen in CI: lesson 03 answered 404 after Run All). Reading the file has no
        side effects; it is retried until no intermediate is left and the JSON parses.
        """
        file = self.root_dir / path
        intermediate = file.with_name(".~" + file.name)
        deadline = time.monotonic() + timeout_s
        while True:
            problem = None
            if intermediate.exists():
                problem = f"a save is still being written ({intermediate.name} exists)"
            else:
                try:
                    return json.loads(file.read_text(encoding="utf-8"))
                except FileNotFoundError:
                    problem = "the file is missing"
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    problem = f"the file is not valid JSON yet ({err})"
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read the saved {path} within {timeout_s:.0f} s: {problem}; "
                                     f"{self._folder_listing(path)}; server log:\n{self.log_tail()}")
            time.sleep(0.25)

    def _folder_listing(self, path: str) -> str:
        """What is on disk beside ``path`` (to diagnose a notebook that went missing)."""
        folder = (self.root_dir / path).parent
        try:
            names = sorted(p.name for p in folder.iterdir())
        except OSError as err:
            return f"could not list {folder}: {err}"
        return f"{folder.relative_to(self.root_dir)} holds: {names}"

    def shutdown_kernels(self) -> None:
        for kernel in self.api("GET", "/api/kernels"):
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            except urllib.error.HTTPError:
                pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# -- pages --------------------------------------------------------------------------------

def accept_dialogs(page) -> None:
    """Accept a kernel-choice or similar dialog if one is up."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if dialog.count():
        dialog.first.click()


def wait_idle(page, timeout_s: float = 60, server: "LabServer | None" = None, path: str | None = None) -> None:
    """Wait until the visible notebook's kernel is idle (and, given ``server`` and ``path``,
    until the server holds a started kernel for that notebook), accepting dialogs meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        accept_dialogs(page)
        ready = page.locator(IDLE).count() > 0
        if ready and server is not None and path is not None:
            ready = any(s.get("path") == path and (s.get("kernel") or {}).get("execution_state") == "idle"
                        for s in server.api("GET", "/api/sessions"))
        if ready:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the notebook's kernel was not idle within {timeout_s:.0f} s")
        page.wait_for_timeout(250)


def open_notebook(page, server: LabServer, path: str, timeout_s: float = 90) -> None:
    page.goto(f"{server.url}/lab/tree/{path}?reset", wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel >> visible=true").first.wait_for(timeout=timeout_s * 1000)
    wait_idle(page, timeout_s, server, path)


def run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator("li[data-command='runmenu:run-all']").click()


# Done when every code cell of the visible notebook shows an execution count and the kernel is idle.
_RUN_FINISHED_JS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  if (!panel) return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const idle = !indicator || indicator.getAttribute('data-status') === 'idle';
  return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t)) && idle;
}"""


def wait_run_finished(page, timeout_s: float) -> float:
    """Wait for Run All to finish; return the seconds it took."""
    start = time.monotonic()
    while not page.evaluate(_RUN_FINISHED_JS):
        accept_dialogs(page)
        if time.monotonic() - start > timeout_s:
            prompts = page.locator(".jp-NotebookPanel >> visible=true").first.locator(
                ".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            raise AssertionError(f"Run All did not finish within {timeout_s:.0f} s; prompts: {prompts}")
        page.wait_for_timeout(500)
    return time.monotonic() - start


def save_notebook(page, timeout_s: float = 30) -> None:
    """Save the visible notebook and wait for the server to answer the save (the PUT), so the
    file on disk is complete when this returns. Waiting for the dirty mark to go is not enough:
    it may not be set yet when Ctrl+S is pressed."""
    def is_save(response) -> bool:
        return response.request.method == "PUT" and "/api/contents/" in response.url
    with page.expect_response(is_save, timeout=timeout_s * 1000) as saved:
        page.keyboard.press("Control+s")
    response = saved.value
    assert response.ok, f"saving the notebook failed: HTTP {response.status} {response.text()[:300]}"
    page.locator(".jp-mod-current .jp-mod-dirty").wait_for(state="detached", timeout=timeout_s * 1000)


def error_outputs(nb: dict) -> list[str]:
    """Error outputs and printed tracebacks in a saved notebook, as short descriptions."""
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and "Traceback" in "".join(out.get("text", "")):
                found.append(f"cell {i}: printed a traceback: {''.join(out['text'])[:300]}")
    return found


def page_errors(page) -> list[str]:
    """What JupyterLab shows of failures: error outputs and widgets that could not be displayed."""
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    return [t[:300] for t in texts if "Traceback" in t or "Error displaying widget" in t
            or "Failed to display model" in t]


def widget_views(page):
    return page.locator(WIDGET_VIEW)


def widget_outputs(nb: dict, with_png: bool = False) -> int:
    """How many widget views a saved notebook displays (``with_png``: only those that carry a
    static PNG beside the live view, i.e. genlearn's FigureWidgets, which stay open; a tqdm bar
    with leave=False closes its widget, and JupyterLab then removes the view)."""
    return sum(WIDGET_MIME in (out.get("data") or {}) and (not with_png or "image/png" in out["data"])
               for cell in nb.get("cells", []) for out in cell.get("outputs", []) or [])


def assert_widget_views_render(page, expected: int | None = None) -> int:
    """Every widget view on the page is rendered with non-zero size and loaded images, and there
    are at least ``expected`` of them; return how many."""
    views = widget_views(page)
    n = views.count()
    assert n > 0, "no widget view was rendered (is the ipywidgets lab extension installed?)"
    if expected is not None:
        assert n >= expected, f"the notebook displays {expected} genlearn widgets but the page renders {n} views"
    for i in range(n):
        view = views.nth(i)
        view.scroll_into_view_if_needed()
        box = view.locator(".jupyter-widgets").first
        box.wait_for(timeout=20_000)
        text = view.inner_text()
        assert "Error displaying widget" not in text, f"widget view {i} failed: {text[:300]}"
        size = box.bounding_box()
        assert size and size["width"] > 10 and size["height"] > 10, f"widget view {i} has no size: {size}"
        for img in view.locator("img").all():
            assert img.evaluate("el => el.complete && el.naturalWidth > 0"), \
                f"widget view {i} holds an image that did not load"
    return n


def slider_labelled(view, label: str):
    """The slider in a widget view whose description is ``label``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    slider = view.locator(".widget-slider", has=view.page.locator(".widget-label", has_text=exact))
    if slider.count() == 0:
        found = view.locator(".widget-slider .widget-label").all_inner_texts()
        raise AssertionError(f"no slider labelled {label!r} in the widget; sliders: {found}")
    return slider.first


def dropdown_labelled(view, label: str):
    """The <select> of the Dropdown in a widget view whose description is ``label``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    box = view.locator(".widget-dropdown", has=view.page.locator(".widget-label", has_text=exact))
    if box.count() == 0:
        found = view.locator(".widget-dropdown .widget-label").all_inner_texts()
        raise AssertionError(f"no dropdown labelled {label!r} in the widget; dropdowns: {found}")
    return box.first.locator("select")


def button_labelled(view, label: str):
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    button = view.locator("button.widget-button", has_text=exact)
    if button.count() == 0:
        found = view.locator("button.widget-button").all_inner_texts()
        raise AssertionError(f"no button labelled {label!r} in the widget; buttons: {found}")
    return button.first


def nudge_slider(slider, presses: int = 5, key: str = "ArrowRight") -> None:
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        handle.press(key)


def image_src(img) -> str:
    return img.get_attribute("src") or ""


def wait_image_changed(img, old_src: str, timeout_s: float = 30) -> None:
    """Wait until an ipywidgets Image shows new bytes (a new blob URL) and has loaded them."""
    img.page.wait_for_function(
        "([el, old]) => el.src && el.src !== old && el.complete && el.naturalWidth > 0",
        arg=[img.element_handle(), old_src], timeout=timeout_s * 1000, polling=200)


def wait_image_settled(img, quiet_s: float = 1.0, timeout_s: float = 60) -> str:
    """Wait until the kernel is idle and an image has shown the same loaded source for
    ``quiet_s``; return that source.

    One control change can redraw more than once (a slider nudged twice sends two values), and
    the last redraw may still be on its way when the next check starts; comparing against a
    picture that is about to be replaced would pass or fail by timing alone.
    """
    page = img.page
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while True:
        src = image_src(img)
        loaded = img.evaluate("el => el.complete && el.naturalWidth > 0")
        idle = page.locator(IDLE).count() > 0
        if src != last or not loaded or not idle:
            last, since = src, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return src
        if time.monotonic() > deadline:
            raise AssertionError(f"the image did not settle within {timeout_s:.0f} s "
                                 f"(kernel idle: {idle}, loaded: {loaded})")
        page.wait_for_timeout(100)


class Evidence:
    """Screenshots of the views a test checks, written to ``folder`` by :meth:`save` when it fails.

    ``shot`` keeps a screenshot (bytes) in memory and returns it, so tests compare a view before
    and after a change with the very pictures they would save.
    """

    def __init__(self, page, folder: Path, server: LabServer | None = None):
        self.page, self.folder, self.server = page, Path(folder), server
        self.shots: dict[str, bytes] = {}
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))

    def shot(self, name: str, locator) -> bytes:
        locator.scroll_into_view_if_needed()
        data = locator.screenshot(animations="disabled")
        self.shots[name] = data
        return data

    def save(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.shots.items():
            (self.folder / f"{name}.png").write_bytes(data)
        try:
            self.page.screenshot(path=str(self.folder / "page.png"), full_page=True)
        except Exception as err:  # the page may be gone; the views saved above still help
            (self.folder / "page-screenshot-failed.txt").write_text(repr(err))
        (self.folder / "console.log").write_text("\n".join(self.console))
        if self.server is not None:
            (self.folder / "jupyterlab.log").write_text(self.server.log_tail(400))
        return self.folder
