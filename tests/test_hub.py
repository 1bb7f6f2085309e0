"""The course on a real JupyterHub with real Unix users, and the Kubernetes values file.

``test_a_class_on_the_hub`` installs hub/ with its own install command into a temporary
prefix, sets the course up with ``genlearn-course``, starts the hub with its start command
(the real configurable-http-proxy, PAM logins, each user's JupyterLab running as that
user), and runs ex01 through the users' own servers: the instructor releases it through
formgrader's API; three students log in, fetch it through the assignment list, one answers
correctly, one partly wrong, one never submits; the instructor collects, autogrades with
two workers, generates and releases feedback; the students fetch their feedback; grades go
out as Canvas and Moodle CSVs. It checks what students cannot do (formgrader, each other's
files, the course folder), and that the hub, the proxy and every server stop and the users
are gone at the end. Needs root; skips without it, fails under CI.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import pwd
import re
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import yaml

import grading_tools as gt
import hub_support as hs

AID = "ex01_likelihood"
HUB_ENV_LOG = "hub-install.log"


@pytest.fixture(scope="module")
def hub_prefix(tmp_path_factory):
    hs.check_can_run()
    reuse = os.environ.get("GENLEARN_HUB_TEST_PREFIX")
    prefix = hs.open_dir(Path(reuse)) if reuse else hs.new_workdir("genlearn-hub-prefix-")
    tag = hs.new_tag()
    try:
        seconds = hs.install(prefix, tmp_path_factory.mktemp("hub") / HUB_ENV_LOG, tag)
        print(f"\nhub/install took {seconds:.0f} s")
        yield prefix, tag
    finally:
        hs.remove_profile(tag)
        if not reuse:
            import shutil

            shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture
def site(hub_prefix):
    prefix, tag = hub_prefix
    site = hs.HubSite(prefix, hs.new_workdir(), tag=tag)
    try:
        yield site
    finally:
        site.close()


def _roster(site, path: Path) -> list[str]:
    names = [("Ada", "Lovelace"), ("Charles", "Babbage"), ("Grace", "Hopper"), ("Eve", "Hostile")]
    ids = [f"{site.tag}s{i}" for i in range(1, 5)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "last_name", "email"])
        for sid, (first, last) in zip(ids, names):
            w.writerow([sid, first, last, f"{sid}@example.org"])
    return ids


def _ok(response, what):
    assert response.status_code == 200, f"{what}: HTTP {response.status_code}\n{response.text[-3000:]}"
    body = response.json()
    if isinstance(body, dict) and "success" in body:
        assert body["success"], f"{what} failed:\n{json.dumps(body)[-3000:]}"
    return body


def _put_notebook(user, path: str, nb) -> None:
    r = user.server("PUT", f"api/contents/{path}", json={"type": "notebook", "format": "json",
                                                          "content": json.loads(nbformat.writes(nb))})
    assert r.status_code in (200, 201), f"{user.name} could not save {path}: HTTP {r.status_code} {r.text[:500]}"


def _get_notebook(user, path: str):
    r = user.server("GET", f"api/contents/{path}")
    assert r.status_code == 200, f"{user.name} cannot open {path}: HTTP {r.status_code} {r.text[:300]}"
    return nbformat.from_dict(r.json()["content"])


def _page_config(html: str) -> dict:
    """JupyterLab's page configuration, as the page gives it to the browser."""
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no jupyter-config-data in the JupyterLab page"
    return json.loads(m.group(1))


def _denied(user: str, command: str, what: str) -> None:
    proc = hs.as_user(user, command)
    assert proc.returncode != 0 and "Permission denied" in proc.stderr, \
        f"{user} should not be able to {what}, but `{command}` gave {proc.returncode}: {proc.stdout[:300]} {proc.stderr[:300]}"


@pytest.mark.hub
def test_a_class_on_the_hub(site, tmp_path):
    t0 = time.perf_counter()
    roster = tmp_path / "roster.csv"
    students = _roster(site, roster)
    instructor = f"{site.tag}inst"
    passwords = site.add_users(roster, instructors=[instructor])
    assert set(passwords) == {instructor, *students}
    assert hs.group_members(site.instructors) == {instructor}
    for sid in students:
        assert os.stat(pwd.getpwnam(sid).pw_dir).st_mode & 0o777 == 0o700, f"{sid}'s home is not private"

    due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)).replace(microsecond=0).isoformat()
    site.course_cli("setup", str(site.course_dir), "--source", str(gt.ROOT), "--exchange", str(site.exchange),
                    "--assignment", AID, "--roster", str(roster), "--due", f"{AID}={due}",
                    "--late-penalty", "10", "--group", site.instructors)
    assert site.exchange.stat().st_mode & 0o7777 == 0o755     # only root adds courses
    for sid in students:   # each student's own exchange folders, made by setup as root
        assert (site.exchange / "genlearn" / "inbound" / sid).stat().st_uid == pwd.getpwnam(sid).pw_uid
    assert site.course_dir.stat().st_mode & 0o7777 == 0o2770

    startup = site.start()
    users = {name: hs.HubUser(site, name, passwords[name]) for name in [instructor, *students]}
    timings = {}
    for name, user in users.items():
        start = time.perf_counter()
        user.login()
        user.spawn()
        page = user.lab_ready()
        timings[name] = round(time.perf_counter() - start, 1)
        assert user.server_pid() is not None, f"no jupyterhub-singleuser process runs as {name}"
        disabled = "@jupyter/nbgrader:formgrader" in _page_config(page).get("disabledExtensions", [])
        assert disabled == (name != instructor), \
            f"formgrader's lab extension should be {'off' if name != instructor else 'on'} for {name}"
    print(f"\nhub up in {startup:.1f} s; login -> JupyterLab (s): {timings}")
    log = site.log.read_text(errors="replace")
    for name in users:  # everything below runs in servers forked from the template (hub/server_template.py)
        assert f"{name}'s server forked from the template" in log, f"{name}'s server was not forked from the template"
    templates = [p for p in psutil.process_iter(["cmdline"]) if any("server_template.py" in a for a in p.info["cmdline"] or [])]
    assert len(templates) == 1, f"expected the hub's one server template, found {len(templates)}"

    # Roles: formgrader answers the instructor only.
    teacher = users[instructor]
    assert teacher.server("GET", "formgrader/api/status").status_code == 200
    for sid in students:
        assert users[sid].server("GET", "formgrader/api/status").status_code == 404, \
            f"a student ({sid}) reached formgrader"

    # Instructor: generate and release through formgrader.
    _ok(teacher.server("POST", f"formgrader/api/assignment/{AID}/assign"), "generate_assignment")
    _ok(teacher.server("POST", f"formgrader/api/assignment/{AID}/release"), "release_assignment")
    assert (site.exchange / "genlearn" / "outbound" / AID / f"{AID}.ipynb").exists()

    # Students: list, fetch, answer, validate, submit (the third one never submits).
    source = nbformat.read(site.course_dir / "solutions" / AID / f"{AID}.ipynb", 4)
    mistake = gt.load_fixtures(AID).SUBMISSIONS["unbiased-variance"]
    path = f"{AID}/{AID}.ipynb"
    for i, sid in enumerate(students):
        user = users[sid]
        listing = _ok(user.server("GET", "assignments", params={"course_id": "genlearn"}), "list")
        assert any(a["assignment_id"] == AID and a["status"] == "released" for a in listing["value"]), listing
        user.server("POST", "assignments/fetch", data={"course_id": "genlearn", "assignment_id": AID})
        release = _get_notebook(user, path)
        if i >= 2:  # the third never submits; the fourth, Eve, attacks below
            continue
        answer = gt.student_notebook(source, release)
        if i == 1:
            answer = gt.apply_edits(answer, mistake)
        _put_notebook(user, path, answer)
        result = _ok(user.server("POST", "assignments/validate", data={"path": path}), f"validate ({sid})")
        assert ("failed" in json.dumps(result)) == (i == 1), f"Validate for {sid}: {json.dumps(result)[:1500]}"
        _ok(user.server("POST", "assignments/submit", data={"course_id": "genlearn", "assignment_id": AID}),
            f"submit ({sid})")

    # Eve attacks: every attack of issue 21, in her login shell (the terminal of her JupyterLab:
    # the hub's configuration, PATH from /etc/profile), through her server and the file system.
    eve, s1 = students[3], students[0]
    inbound = site.exchange / "genlearn" / "inbound"
    terminal = (f"export JUPYTER_CONFIG_PATH={site.prefix}/etc/jupyter/student:{site.prefix}/etc/jupyter/common "
                f"GENLEARN_EXCHANGE={site.exchange} GENLEARN_COURSE_ID=genlearn && cd ~ && ")
    for who in (eve, instructor):
        found = hs.as_user(who, "command -v nbgrader genlearn-course")
        assert found.stdout.split() == [f"{site.prefix}/venv/bin/nbgrader", f"{site.prefix}/venv/bin/genlearn-course"], \
            f"{who}'s login shell does not find the course's commands: {found.stdout} {found.stderr}"
    victim_entry = next((inbound / s1).iterdir())        # Eve is told its name
    refused = {
        "submit as another student": hs.as_user(eve, terminal + f"nbgrader submit {AID} --student {s1}"),
        "submit as another with nbgrader's own exchange classes": hs.as_user(
            eve, f"cd ~ && nbgrader submit {AID} --student {s1} --course genlearn --Exchange.root={site.exchange} "
                 "--ExchangeFactory.submit=nbgrader.exchange.default.ExchangeSubmit"),
        "plant a submission in the victim's folder": hs.as_user(eve, f"mkdir {inbound}/{s1}/{AID}+AAAAAAAAAAAA"),
        "plant a future-dated submission in inbound": hs.as_user(
            eve, f"mkdir '{inbound}/{s1}+{AID}+2099-01-01 00:00:00.000000 UTC+zzzzzzzzzzzz'"),
        "list inbound": hs.as_user(eve, f"ls {inbound}"),
        "read the victim's submission": hs.as_user(eve, f"cat {victim_entry}/{AID}.ipynb"),
        "delete the victim's submission": hs.as_user(eve, f"rm -rf {victim_entry}"),
        "replace the victim's notebook": hs.as_user(eve, f"cp ~/{path} {victim_entry}/{AID}.ipynb"),
        "read the victim's feedback folder": hs.as_user(eve, f"ls {site.exchange}/genlearn/feedback/{s1}"),
    }
    for what, proc in refused.items():
        said = proc.stderr + proc.stdout
        assert proc.returncode != 0 and any(w in said for w in ("Permission denied", "cannot act as student", "Unwritable directory")), \
            f"Eve could {what}: {proc.returncode} {said[-600:]}"
    assert victim_entry.exists()
    # Her own submission: the untouched release with a malformed timestamp.txt, through her server;
    # then, newer, one made by hand of links to the solution and the gradebook, a FIFO and a time in 2099.
    r = users[eve].server("PUT", f"api/contents/{AID}/timestamp.txt", json={"type": "file", "format": "text", "content": "garbage"})
    assert r.status_code in (200, 201)
    _ok(users[eve].server("POST", "assignments/submit", data={"course_id": "genlearn", "assignment_id": AID}), "submit (eve)")
    solution = site.course_dir / "solutions" / AID / f"{AID}.ipynb"
    hand = inbound / eve / f"{AID}+HandMadeLinks01"
    made = hs.as_user(eve, f"mkdir {hand} && ln -s {solution} {hand}/{AID}.ipynb && ln -s {site.course_dir}/gradebook.db "
                           f"{hand}/gradebook.db && ln -s {solution} {hand}/notes.html && mkfifo {hand}/pipe && "
                           f"echo '2099-01-01 00:00:00.000000 UTC' > {hand}/timestamp.txt && touch -d 2099-01-01 {hand} && "
                           f"chmod -R g+rX {hand}")
    assert made.returncode == 0, made.stderr

    # Instructor: collect; autograde as the instructor with two workers; feedback out.
    _ok(teacher.server("POST", f"formgrader/api/assignment/{AID}/collect"), "collect")
    report = json.loads((site.course_dir / "logs" / "collect" / f"{AID}.json").read_text())
    said = "\n".join(report["refused"].get(eve, []))
    for fragment in (f"{AID}.ipynb: a symbolic link", "gradebook.db: a symbolic link", "notes.html: a symbolic link",
                     "pipe: a FIFO"):
        assert fragment in said, f"collect did not report {fragment!r}: {report}"
    assert set(report["collected"]) == {students[0], students[1], eve} and not report["refused"].get(s1)
    assert not (site.exchange / "genlearn" / "inbound" / f"{s1}+{AID}+2099-01-01 00:00:00.000000 UTC+zzzzzzzzzzzz").exists()
    collected = site.course_dir / "submitted" / eve / AID
    assert not any(p.is_symlink() for p in collected.rglob("*")) and not (collected / f"{AID}.ipynb").exists()
    assert not (collected / "timestamp.txt").read_text().startswith("2099")
    graded = hs.as_user(instructor, f"cd {site.course_dir} && genlearn-course autograde {AID} --workers 2")
    assert graded.returncode == 0, f"autograde as {instructor} failed:\n{graded.stdout[-3000:]}\n{graded.stderr[-3000:]}"
    summary = json.loads(graded.stdout)
    assert summary["submissions"] == 2 and summary["rows"] == 2 and not summary["lost"], summary
    assert list(summary["broken"]) == [eve] and f"BROKEN {eve}" in graded.stderr, summary
    # formgrader's autograde button grades the same way: in the course's sandbox, tests in their own kernel
    report_path = site.course_dir / "grading_reports" / AID / students[0] / f"{AID}.json"
    before = report_path.stat().st_mtime_ns
    regraded = teacher.server("POST", f"formgrader/api/submission/{AID}/{students[0]}/autograde").json()
    assert regraded.get("success"), regraded
    assert report_path.stat().st_mtime_ns > before, "formgrader's autograde did not use the course's grading"
    report = json.loads(report_path.read_text())
    assert report["sandboxed"]
    # graded as the instructor, not root: both kernels forked into their sandboxes' user namespaces
    assert report["kernels"] == {"student": "forked", "grader": "forked"}, report["kernels"]
    _ok(teacher.server("POST", f"formgrader/api/assignment/{AID}/generate_feedback"), "generate_feedback")
    _ok(teacher.server("POST", f"formgrader/api/assignment/{AID}/release_feedback"), "release_feedback")

    # Students fetch feedback: it lands in their own folder, through their own server.
    for sid in students[:2]:
        users[sid].server("POST", "assignments/fetch_feedback", data={"course_id": "genlearn", "assignment_id": AID})
        folders = users[sid].server("GET", f"api/contents/{AID}/feedback").json()["content"]
        html = [f for d in folders for f in users[sid].server("GET", f"api/contents/{d['path']}").json()["content"]
                if f["name"] == f"{AID}.html"]
        assert html, f"{sid} got no feedback: {folders}"
    feedback = users[students[1]].server("GET", f"api/contents/{html[0]['path']}").json()["content"]
    assert "maximum likelihood divides by n" in feedback, "the partly wrong student's feedback lacks the failing test's message"

    # Grades out: Canvas and Moodle CSVs, made by the instructor.
    out = hs.as_user(instructor, f"cd {site.course_dir} && genlearn-course export --canvas canvas.csv --moodle moodle.csv")
    written = gt.written_cells(source)
    assert out.returncode == 1 and f"not graded by hand yet ({', '.join(sorted(written))})" in out.stderr, \
        out.stderr[-3000:]
    points = gt.test_cells(source)
    auto = sum(points.values())
    expected = {students[0]: auto, students[1]: auto - points["test_fit_gaussian"], students[2]: 0.0, eve: 0.0}
    canvas = list(csv.DictReader((site.course_dir / "canvas.csv").open()))
    assert canvas[0]["Student"].strip() == "Points Possible" and float(canvas[0][AID]) == auto + sum(written.values())
    assert {r["SIS Login ID"]: float(r[AID]) for r in canvas[1:]} == expected
    moodle = list(csv.DictReader((site.course_dir / "moodle.csv").open()))
    assert {r["ID number"]: float(r[f"Assignment: {AID} (Real)"]) for r in moodle} == expected

    # Nothing of solutions/ or the gradebook reached Eve: not her home, not her exchange folders.
    leaked = hs.as_user("root", f"grep -rlE 'BEGIN (HIDDEN TESTS|SOLUTION)|CREATE TABLE submitted_notebook' {pwd.getpwnam(eve).pw_dir} "
                                f"{inbound / eve} {site.exchange}/genlearn/feedback/{eve} {site.course_dir}/submitted/{eve} "
                                f"{site.course_dir}/feedback/{eve} 2>/dev/null")
    assert leaked.stdout.strip() == "", f"solution or gradebook text reached Eve: {leaked.stdout}"

    # What students cannot do.
    s1, s2 = students[0], students[1]
    _denied(s1, f"cat {pwd.getpwnam(s2).pw_dir}/{path}", "read another student's notebook")
    _denied(s1, f"ls {site.course_dir}", "list the course folder")
    _denied(s1, f"cat {site.course_dir}/gradebook.db", "read the gradebook")
    _denied(s1, f"ls {site.exchange}/genlearn/inbound", "list the submissions in the exchange")
    _denied(s1, f"touch {site.course_dir}/solutions/x", "write into the course folder")

    # Stop: the hub takes the proxy and every server with it.
    proxy = site.proxy_pid()
    servers = [u.server_pid() for u in users.values()]
    assert proxy and all(servers), (proxy, servers)
    site.stop()
    assert site.proc.returncode is not None
    time.sleep(1)
    alive = [p for p in [proxy, *servers, templates[0].pid] if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running after the hub stopped: {alive}"
    assert not site.user_processes(), f"test users still own processes: {site.user_processes()}"
    site.close()
    for name in users:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    print(f"whole class test: {time.perf_counter() - t0:.0f} s")


# ----------------------------------------------------------------------------- Kubernetes

VALUES = gt.ROOT / "hub" / "z2jh" / "values.yaml"

# What the jupyterhub chart (4.x) accepts at the paths this course's values.yaml uses, by
# type: every mapping below is closed (the chart rejects unknown keys there), except where
# a path is marked OPEN (free-form: traitlets config, environment variables, services).
OPEN = "open"
NUM = (int, float)
CHART = {
    "hub": {
        "config": OPEN, "services": OPEN, "loadRoles": OPEN, "extraConfig": OPEN, "extraEnv": OPEN,
        "baseUrl": str, "cookieSecret": str, "concurrentSpawnLimit": int, "activeServerLimit": int,
        "image": {"name": str, "tag": str, "pullPolicy": str},
        "resources": OPEN, "db": {"type": str, "pvc": OPEN, "url": str, "password": str, "upgrade": bool},
    },
    "singleuser": {
        "image": {"name": str, "tag": str, "pullPolicy": str, "pullSecrets": list},
        "defaultUrl": str, "cmd": (list, str), "startTimeout": int, "extraEnv": OPEN, "uid": int, "fsGid": int,
        "cpu": {"limit": NUM, "guarantee": NUM},
        "memory": {"limit": (str, *NUM), "guarantee": (str, *NUM)},
        "storage": {"type": str, "capacity": str, "homeMountPath": str, "dynamic": OPEN, "static": OPEN,
                    "extraVolumes": (list, dict), "extraVolumeMounts": (list, dict)},
        "profileList": list, "networkPolicy": OPEN, "lifecycleHooks": OPEN,
    },
    "proxy": {
        "secretToken": str,
        "https": {"enabled": bool, "type": str, "hosts": list, "letsencrypt": {"contactEmail": str, "acmeServer": str},
                  "manual": OPEN, "secret": OPEN},
        "service": OPEN, "chp": OPEN, "traefik": OPEN,
    },
    "cull": {"enabled": bool, "users": bool, "adminUsers": bool, "removeNamedServers": bool,
             "timeout": int, "every": int, "concurrency": int, "maxAge": int},
    "scheduling": {
        "userScheduler": {"enabled": bool, "replicas": int, "logLevel": int, "pluginConfig": list,
                          "plugins": OPEN, "resources": OPEN},
        "podPriority": {"enabled": bool, "globalDefault": bool, "defaultPriority": int,
                        "imagePullerPriority": int, "userPlaceholderPriority": int},
        "userPlaceholder": {"enabled": bool, "replicas": int, "resources": OPEN},
        "corePods": OPEN, "userPods": OPEN,
    },
    "prePuller": {"hook": {"enabled": bool, "pullOnlyOnChanges": bool}, "continuous": {"enabled": bool},
                  "pullProfileListImages": bool, "extraImages": OPEN},
    "ingress": {"enabled": bool, "hosts": list, "tls": list, "annotations": OPEN, "ingressClassName": str},
    "debug": {"enabled": bool},
}
UNITS = re.compile(r"\d+(\.\d+)?([KMGT]i?)?")  # the chart's byte sizes (2G, 512M, 2Gi)


def _check(values, spec, path, problems):
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in spec:
            problems.append(f"{where}: the chart has no such key (known here: {', '.join(sorted(spec))})")
            continue
        want = spec[key]
        if want is OPEN:
            continue
        if isinstance(want, dict):
            if not isinstance(value, dict):
                problems.append(f"{where}: expected a mapping, got {type(value).__name__}")
            else:
                _check(value, want, where, problems)
        elif value is not None:
            types = want if isinstance(want, tuple) else (want,)
            if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
                problems.append(f"{where}: expected {' or '.join(t.__name__ for t in types)}, "
                                f"got {type(value).__name__} ({value!r})")


def test_kubernetes_values_match_the_chart():
    values = yaml.safe_load(VALUES.read_text())
    problems = []
    _check(values, CHART, "", problems)
    assert not problems, "hub/z2jh/values.yaml:\n" + "\n".join(problems)

    # What the course needs from it, beyond well-formed:
    user = values["singleuser"]
    assert user["image"]["tag"] not in ("latest", ""), "pin the single-user image's tag"
    for key in ("limit", "guarantee"):
        assert UNITS.fullmatch(str(user["memory"][key])), f"singleuser.memory.{key}: {user['memory'][key]!r} is not a size"
    assert user["cpu"]["guarantee"] <= user["cpu"]["limit"]
    assert user["storage"]["homeMountPath"] == "/home/jovyan"
    assert values["cull"]["enabled"] and values["cull"]["timeout"] >= 600
    claim = values["singleuser"]["storage"]["extraVolumes"][0]
    assert claim["name"] == "exchange" and claim["persistentVolumeClaim"]["claimName"] == "genlearn-exchange"
    # Secrets live outside the file (docs/hub.md): no token, secret or password in it.
    text = VALUES.read_text()
    assert not re.search(r"(api_token|client_secret|secretToken|password)\s*:", text), \
        "a secret in values.yaml: keep them in a separate values file"
    # The hub's pre-spawn hook is Python that the chart pastes into its config: it must compile.
    for name, code in values["hub"]["extraConfig"].items():
        compile(code, f"hub.extraConfig.{name}", "exec")


def test_kubernetes_hook_mounts_only_a_students_own_exchange_folders():
    """The pre-spawn hook, run with a stand-in spawner: a student's pod sees the release
    (read-only), their own inbound folder and their own feedback (read-only), nothing else of
    the exchange; an instructor's the whole of it; a user name that is not a plain name is refused."""
    from types import SimpleNamespace

    values = yaml.safe_load(VALUES.read_text())
    scope = {"c": SimpleNamespace(KubeSpawner=SimpleNamespace())}
    exec(compile(values["hub"]["extraConfig"]["genlearn-roles"], "genlearn-roles", "exec"), scope)
    hook = scope["c"].KubeSpawner.pre_spawn_hook

    def spawn(name, groups):
        spawner = SimpleNamespace(user=SimpleNamespace(name=name, groups=[SimpleNamespace(name=g) for g in groups]),
                                  environment={}, volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}])
        hook(spawner)
        return spawner

    student = spawn("ada", ["genlearn-students"])
    mounts = {m["mountPath"]: m for m in student.volume_mounts if m["name"] == "exchange"}
    root = "/srv/nbgrader/exchange/genlearn"
    assert set(mounts) == {f"{root}/outbound", f"{root}/inbound/ada", f"{root}/feedback/ada"}
    assert all(m["subPath"] == m["mountPath"][len("/srv/nbgrader/exchange/"):] for m in mounts.values())
    assert [p for p, m in mounts.items() if not m["readOnly"]] == [f"{root}/inbound/ada"]
    assert student.environment["GENLEARN_ROLE"] == "student"
    teacher = spawn("grace", ["genlearn-instructors"])
    assert [m for m in teacher.volume_mounts if m["name"] == "exchange"] == \
        [{"name": "exchange", "mountPath": "/srv/nbgrader/exchange"}]
    with pytest.raises(ValueError, match="cannot name an exchange folder"):
        spawn("../ada", ["genlearn-students"])
    # The image's nbgrader configuration uses the course's exchange with the hub's identity.
    config = (gt.ROOT / "hub" / "z2jh" / "nbgrader_config.py").read_text()
    assert 'configure_exchange(c, "mount")' in config


def test_values_checker_catches_mistakes():
    """The structural check fails on the mistakes it is there for (it is not a pass-through)."""
    bad = {"singleuser": {"memory": {"limit": "2G", "gurantee": "1G"}, "cpu": {"limit": "one"}},
           "cull": {"enabled": "yes"}, "hubb": {}}
    problems = []
    _check(bad, CHART, "", problems)
    joined = "\n".join(problems)
    for fragment in ("singleuser.memory.gurantee", "singleuser.cpu.limit", "cull.enabled", "hubb"):
        assert fragment in joined, f"{fragment} not reported:\n{joined}"


# ----------------------------------------------------------------------------- the spawner, without a hub


def _spawner(**kw):
    pytest.importorskip("jupyterhub")
    import sys

    sys.path.insert(0, str(gt.ROOT / "hub"))
    from genlearn_hub import CourseSpawner

    return CourseSpawner(**kw)


def test_spawner_gives_each_role_its_configuration(monkeypatch):
    from types import SimpleNamespace

    from jupyterhub.spawner import LocalProcessSpawner

    monkeypatch.setattr(LocalProcessSpawner, "get_env", lambda self: {"PATH": "/usr/bin"})
    me = pwd.getpwuid(os.getuid()).pw_name
    own_group = __import__("grp").getgrgid(os.getgid()).gr_name
    for group, role in ((own_group, "instructor"), ("no-such-group-genlearn", "student")):
        spawner = _spawner(instructors_group=group, config_root="/opt/h/etc/jupyter", cpu_limit=2.0,
                           course_id="genlearn", exchange_root="/srv/x")
        spawner.user = SimpleNamespace(name=me)
        env = spawner.get_env()
        assert env["GENLEARN_ROLE"] == role
        assert env["JUPYTER_CONFIG_PATH"] == f"/opt/h/etc/jupyter/{role}:/opt/h/etc/jupyter/common"
        assert env["GENLEARN_EXCHANGE"] == "/srv/x" and env["GENLEARN_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "2"
        assert ("GENLEARN_COURSE_DIR" in env) == (role == "instructor")


@pytest.mark.skipif(os.geteuid() != 0, reason="the spawner's preexec function changes user: needs root")
def test_spawner_limits_memory_and_processes():
    import subprocess
    import sys

    spawner = _spawner(mem_limit="1G", max_processes=300, instructors_group="no-such-group-genlearn")
    probe = ("import os, resource\n"
             "print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0], oct(os.umask(0)))\n"
             "try:\n    bytearray(2 * 1024**3)\nexcept MemoryError:\n    print('MemoryError')\n")
    out = subprocess.run([sys.executable, "-c", probe], preexec_fn=spawner.make_preexec_fn("root"),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(2**30), "300", "0o77", "MemoryError"], out.stdout + out.stderr


def _start_line(size):
    _spawner()  # puts hub/ on the path
    from genlearn_hub import StartLine

    return StartLine(size)


def test_start_line_lets_a_few_in_at_once_first_come_first_served():
    import asyncio

    async def scenario():
        line = _start_line(2)
        inside, most, order, tickets = set(), [0], [], {}

        async def holder(i):
            async with line.turn(on_ticket=lambda t: tickets.__setitem__(i, t)):
                inside.add(i)
                most[0] = max(most[0], len(inside))
                order.append(i)
                await asyncio.sleep(0.02)
                inside.discard(i)

        tasks = [asyncio.create_task(holder(i)) for i in range(6)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        places = {i: line.ahead(t) for i, t in tickets.items()}
        await asyncio.gather(*tasks)
        return most[0], order, places, line.running, line.line

    most, order, places, running, left = asyncio.run(scenario())
    assert most == 2, f"{most} servers started at once in a line of 2"
    assert order == list(range(6)), f"not first come, first served: {order}"
    assert places == {2: 0, 3: 1, 4: 2, 5: 3}, f"places in line: {places}"
    assert running == 0 and left == [], "the line is not empty after everyone's turn"


def test_start_line_survives_holders_that_give_up():
    """A student who cancels while waiting leaves the line; one cancelled at the moment their turn
    came passes it on; either way the others still get theirs and nobody's slot is lost."""
    import asyncio

    async def scenario():
        line = _start_line(1)
        done = []

        async def holder(i, hold=0.02):
            async with line.turn():
                await asyncio.sleep(hold)
                done.append(i)

        first = asyncio.create_task(holder(0))
        await asyncio.sleep(0)
        quitter, late, last = (asyncio.create_task(holder(i)) for i in (1, 2, 3))
        await asyncio.sleep(0.005)
        quitter.cancel()  # still waiting
        await first
        late.cancel()  # its turn was just handed to it, before it could run
        await asyncio.gather(quitter, late, return_exceptions=True)
        await asyncio.wait_for(last, 5)
        return done, line.running, line.line

    done, running, left = asyncio.run(scenario())
    assert done == [0, 3], f"turns taken: {done}"
    assert running == 0 and left == []


def test_spawner_waits_for_the_server_to_listen_and_reports_a_server_that_dies(tmp_path):
    import asyncio
    import socket
    import subprocess
    import sys
    from types import SimpleNamespace

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listen = (f"import socket, time; time.sleep(0.5); s = socket.socket(); s.bind(('127.0.0.1', {port})); "
              "s.listen(); time.sleep(30)")
    spawner = _spawner()
    spawner.user = SimpleNamespace(name="ada")
    spawner.proc = subprocess.Popen([sys.executable, "-c", listen])
    try:
        t = time.perf_counter()
        assert asyncio.run(spawner.wait_until_listening("127.0.0.1", port, 20)) is True
        assert time.perf_counter() - t >= 0.4, "returned before the server listened"
    finally:
        spawner.proc.kill()
        spawner.proc.wait()
    # a server that never listens (a student's ~/.jupyter config can sleep): its turn ends in time
    spawner.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        t = time.perf_counter()
        assert asyncio.run(spawner.wait_until_listening("127.0.0.1", port, 1.0)) is False
        assert time.perf_counter() - t < 5, "the turn of a server that never listens did not end"
    finally:
        spawner.proc.kill()
        spawner.proc.wait()
    spawner.proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        asyncio.run(spawner.wait_until_listening("127.0.0.1", port, 20))


def test_spawn_page_says_the_place_in_line(monkeypatch):
    import asyncio
    from types import SimpleNamespace

    from jupyterhub.spawner import LocalProcessSpawner

    async def scenario():
        started = asyncio.Event()

        async def fake_start(self):
            started.set()
            await asyncio.sleep(0.3)
            return "127.0.0.1", 1

        async def listening(self, ip, port, timeout):
            return True

        monkeypatch.setattr(LocalProcessSpawner, "start", fake_start)
        spawners = []
        for name in ("ada", "bob", "cy"):
            sp = _spawner(concurrent_starts=1, instructors_group="no-such-group-genlearn")
            sp.user = SimpleNamespace(name=name)
            monkeypatch.setattr(sp, "wait_until_listening", listening.__get__(sp))
            monkeypatch.setattr(type(sp), "role", property(lambda self: "student"))
            spawners.append(sp)
        starts = [asyncio.create_task(sp.start()) for sp in spawners]
        await started.wait()
        messages = []
        async for event in spawners[2].progress():
            messages.append(event["message"])
        await asyncio.gather(*starts)
        return messages

    messages = asyncio.run(scenario())
    assert messages[0].startswith("Waiting for a turn to start: 1 ahead of you"), messages
    assert "0 ahead of you" in " ".join(messages) and messages[-1] == "Starting your JupyterLab...", messages


def test_a_server_that_never_listens_gives_up_its_turn(monkeypatch):
    """A student's own ~/.jupyter config runs in their server before it listens, so it can sleep:
    that server's turn in the start line ends after turn_seconds, and the next student starts."""
    import asyncio
    import socket
    import subprocess
    import sys
    from types import SimpleNamespace

    from jupyterhub.spawner import LocalProcessSpawner

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    started = {}

    async def fake_start(self):
        started[self.user.name] = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # never listens
        return "127.0.0.1", closed_port

    async def scenario():
        monkeypatch.setattr(LocalProcessSpawner, "start", fake_start)
        monkeypatch.setattr(_spawner().__class__, "role", property(lambda self: "student"))
        spawners = []
        for name in ("eve", "ada"):
            sp = _spawner(concurrent_starts=1, turn_seconds=0.5)
            sp.user = SimpleNamespace(name=name)
            spawners.append(sp)
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(sp.start() for sp in spawners)), 10)
        finally:
            for sp in spawners:
                if sp.proc is not None:
                    sp.proc.kill()
                    sp.proc.wait()
        return started["ada"] - t0

    waited = asyncio.run(scenario())
    assert 0.4 <= waited < 3, f"the next student started after {waited:.1f} s (a turn lasts 0.5 s here)"


@pytest.mark.skipif(os.geteuid() != 0, reason="the template forks servers as other users: needs root")
def test_server_template_forks_a_server_that_is_the_user_and_holds_no_hub_secret(monkeypatch):
    """The template (hub/server_template.py) as the spawner starts it: its environment holds none
    of the hub's; only root can reach its socket; a server forked from it has given up root
    exactly as a spawned one (uid, groups, umask, limits, home) and sees only its own request."""
    import asyncio
    import subprocess
    import sys
    from types import SimpleNamespace

    monkeypatch.setenv("CONFIGPROXY_AUTH_TOKEN", "hub-secret-4711")
    nobody = pwd.getpwnam("nobody")
    spawner = _spawner(mem_limit="1G", max_processes=300, instructors_group="no-such-group-genlearn")
    spawner.user = SimpleNamespace(name="nobody")
    import shutil
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="genlearn-template-test-"))  # pytest's tmp_path is root's alone
    shared.chmod(0o777)
    out = shared / "probe.json"
    probe = ("import json, os, resource, sys\n"
             "json.dump({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
             "  'umask': os.umask(0), 'as': resource.getrlimit(resource.RLIMIT_AS)[0], 'cwd': os.getcwd(),\n"
             "  'token': os.environ.get('JUPYTERHUB_API_TOKEN'), 'secret': 'hub-secret-4711' in repr(os.environ)},\n"
             f"  open({str(out)!r}, 'w'))\n")

    from genlearn_hub import CourseSpawner

    async def scenario():
        path = await spawner.template_socket()
        template = CourseSpawner._template
        environ = open(f"/proc/{template['proc'].pid}/environ", "rb").read()
        reader, writer = await asyncio.open_unix_connection(path)
        # PYTHON* in the environment: served by executing the command, after giving up root
        request = {"argv": ["/usr/bin/python3", "-c", probe], "settings": spawner.process_settings("nobody"),
                   "env": {"PATH": "/usr/bin:/bin", "PYTHONSAFEPATH": "1", "JUPYTERHUB_API_TOKEN": "ada-only"}}
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        pid = json.loads(await reader.readline())["pid"]
        writer.close()
        return path, environ, pid

    try:
        path, environ, pid = asyncio.run(scenario())
        assert b"hub-secret-4711" not in environ, "the template inherited the hub's environment"
        deadline = time.perf_counter() + 30
        while not out.exists() and time.perf_counter() < deadline:
            time.sleep(0.1)
        got = json.loads(out.read_text())
        assert got["uid"] == got["euid"] == nobody.pw_uid and got["gid"] == nobody.pw_gid
        assert set(got["groups"]) <= set(os.getgrouplist("nobody", nobody.pw_gid))
        assert got["umask"] == 0o077 and got["as"] == 2**30 and got["cwd"] in (nobody.pw_dir, "/")
        assert got["token"] == "ada-only" and not got["secret"]
        denied = subprocess.run(["/usr/bin/python3", "-c", f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"],
                                preexec_fn=lambda: (os.setgid(nobody.pw_gid), os.setgroups([]), os.setuid(nobody.pw_uid)),
                                capture_output=True, text=True, timeout=60)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, \
            f"a user reached the template's socket: {denied.returncode} {denied.stderr[-300:]}"
    finally:
        template = CourseSpawner._template
        if template:
            template["proc"].terminate()  # as when the hub stops: it takes its socket along
            template["proc"].wait(30)
            assert not os.path.exists(template["folder"]), "the stopped template left its socket's folder"
            CourseSpawner._template = {}
        shutil.rmtree(shared, ignore_errors=True)


def test_spawner_falls_back_only_when_the_template_cannot_be_reached(monkeypatch):
    """No template (it would not start): a new interpreter, as JupyterHub starts servers. A
    template reached but whose server then fails: that failure is the start's, with no second
    server started beside one that may be running."""
    import asyncio
    from types import SimpleNamespace

    from jupyterhub.spawner import LocalProcessSpawner

    popen_starts = []

    async def popen_start(self):
        popen_starts.append(self.user.name)
        return "127.0.0.1", 1

    async def no_template(self):
        raise RuntimeError("the server template did not start")

    async def lost_answer(self, reader, writer):
        raise asyncio.TimeoutError("no pid from the template's child")

    async def reached(path):
        return None, None

    monkeypatch.setattr(LocalProcessSpawner, "start", popen_start)
    spawner = _spawner(concurrent_starts=0)
    spawner.user = SimpleNamespace(name="ada")
    monkeypatch.setattr(type(spawner), "role", property(lambda self: "student"))
    monkeypatch.setattr(type(spawner), "uses_template", lambda self: True)
    monkeypatch.setattr(type(spawner), "template_socket", no_template)
    assert asyncio.run(spawner.start()) == ("127.0.0.1", 1) and popen_starts == ["ada"]

    monkeypatch.setattr(type(spawner), "template_socket", lambda self: asyncio.sleep(0, "/sock"))
    monkeypatch.setattr(asyncio, "open_unix_connection", reached)
    monkeypatch.setattr(type(spawner), "fork_from_template", lost_answer)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(spawner.start())
    assert popen_starts == ["ada"], "a second server was started after the template's child got the request"
