"""The ``genlearn-course`` command: set up a course for a class, grade it, send grades out.

Examples (as root on the hub machine, or as an instructor in the course folder)::

    genlearn-course setup /srv/genlearn/course --source /opt/genlearn-src --group genlearn-instructors \\
        --roster roster.csv --due ex01_likelihood=2027-01-15T23:59+01:00 --late-penalty 10 --late-max 50
    genlearn-course accounts roster.csv --group genlearn-students --passwords /root/passwords.csv
    genlearn-course accounts --user alice --group genlearn-instructors
    genlearn-course autograde ex01_likelihood                      # in the course folder
    genlearn-course export --canvas canvas.csv --canvas-template canvas_export.csv --moodle moodle.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .._checks import argparse_type, check_positive_int
from ..cli import _Parser


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {value:g}")
    return value


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genlearn-course", description="Run the genlearn course for a class (nbgrader).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("setup", help="create or update a course folder, its exchange, roster, due dates and late penalty")
    s.add_argument("course_dir", type=Path)
    s.add_argument("--source", type=Path, default=Path.cwd(),
                   help="a checkout of the course (nbgrader_config.py, solutions/); default: here")
    s.add_argument("--course-id", default=os.environ.get("GENLEARN_COURSE_ID", "genlearn"),
                   help="nbgrader's course id (default: $GENLEARN_COURSE_ID or genlearn)")
    s.add_argument("--exchange", type=Path, default=Path(os.environ.get("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")),
                   help="the exchange's root (default: $GENLEARN_EXCHANGE, the hub's setting, or /srv/nbgrader/exchange)")
    s.add_argument("--no-exchange", action="store_true",
                   help="make no exchange folder (Kubernetes: ngshare is the exchange)")
    s.add_argument("--assignment", action="append", default=[], dest="assignments",
                   help="only these assignments (repeat); default: all")
    s.add_argument("--roster", type=Path, help="CSV: id,first_name,last_name,email")
    s.add_argument("--due", action="append", default=[], metavar="ASSIGNMENT=WHEN",
                   help="e.g. ex01_likelihood=2027-01-15T23:59+01:00 (repeat)")
    s.add_argument("--late-penalty", type=_percent, metavar="PERCENT",
                   help="percent of the score off per started day late")
    s.add_argument("--late-max", type=_percent, default=100.0, metavar="PERCENT", help="the most taken off (default 100)")
    s.add_argument("--late-grace", type=float, default=0.0, metavar="MINUTES", help="minutes still on time")
    s.add_argument("--owner", help="the instructor who owns the folder")
    s.add_argument("--group", help="the instructors' group: they share the folder")

    a = sub.add_parser("accounts", help="Unix accounts (root): students from a roster, or named instructors")
    a.add_argument("roster", nargs="?", type=Path)
    a.add_argument("--user", action="append", default=[], help="an account by name (repeat)")
    a.add_argument("--group", required=True, help="the group to put them in (created if missing)")
    a.add_argument("--passwords", type=Path, help="append new accounts' passwords to this CSV (mode 0600)")

    g = sub.add_parser("autograde", help="autograde every submission of an assignment with N workers")
    g.add_argument("assignment")
    g.add_argument("--course", type=Path, default=Path.cwd(), help="the course folder (default: here)")
    g.add_argument("--workers", type=argparse_type(check_positive_int, "workers"), default=None,
                   help="submissions graded at once (default: one per CPU plus one, fewer if memory is short)")
    g.add_argument("--student", action="append", default=[], dest="students", help="only these (repeat)")
    g.add_argument("--force", action="store_true", help="grade again what was already graded")
    g.add_argument("--retries", type=int, default=2, help="regrade after 'database is locked' (default 2)")
    g.add_argument("--mode", choices=("api", "cli"), default="api",
                   help="api: long-lived workers calling nbgrader's API (default); cli: one `nbgrader autograde` per submission")

    e = sub.add_parser("export", help="final grades as Canvas and/or Moodle import CSVs")
    e.add_argument("--course", type=Path, default=Path.cwd(), help="the course folder (default: here)")
    e.add_argument("--assignment", action="append", default=[], dest="assignments",
                   help="export these (repeat); default: every assignment with a submission or released")
    e.add_argument("--title", action="append", default=[], metavar="ASSIGNMENT=NAME",
                   help="the name the LMS gives an assignment, when it is not the assignment's id (repeat)")
    for lms in ("canvas", "moodle"):
        e.add_argument(f"--{lms}", type=Path, metavar="OUT.csv")
        e.add_argument(f"--{lms}-template", type=Path, metavar="EXPORT.csv",
                       help=f"{lms.title()}'s own gradebook export: keep its ids and column names")
    return parser


def _setup(args) -> dict:
    from .create import CourseSpec, LatePolicy, create_course, parse_due
    from .roster import read_roster

    due = dict(parse_due(d) for d in args.due)
    late = LatePolicy(args.late_penalty, args.late_max, args.late_grace) if args.late_penalty is not None else None
    students = read_roster(args.roster) if args.roster else ()
    exchange = None if args.no_exchange else args.exchange
    spec = CourseSpec(args.course_dir, args.source, args.course_id, exchange, args.assignments, due, late,
                      args.owner, args.group)
    return create_course(spec, students)


def _accounts(args) -> dict:
    from .accounts import ensure_accounts
    from .roster import read_roster

    comment = {}
    users = list(args.user)
    if args.roster:
        for s in read_roster(args.roster):
            users.append(s.id)
            comment[s.id] = f"{s.first_name} {s.last_name}".strip() or s.id
    if not users:
        raise ValueError("name a roster or at least one --user")
    created = ensure_accounts(users, args.group, args.passwords, comment)
    return {"group": args.group, "accounts": len(users), "created": sorted(created)}


def _autograde(args) -> dict:
    from .parallel import autograde_class, default_workers

    def progress(r):
        if r.log.startswith("BROKEN"):
            print(f"BROKEN {r.student}: {r.log[len('BROKEN: '):].strip()} -> 0, not graded", file=sys.stderr, flush=True)
            return
        print(f"{'graded' if r.ok else 'FAILED'} {r.student} in {r.seconds:.1f} s"
              + (f" ({r.attempts} attempts)" if r.attempts > 1 else ""), file=sys.stderr, flush=True)

    workers, chosen = args.workers, ""
    if workers is None:
        workers, chosen = default_workers()
        print(f"{workers} workers ({chosen}); --workers N to choose", file=sys.stderr, flush=True)
    run = autograde_class(args.course, args.assignment, args.students or None, workers, args.force,
                          args.retries, progress=progress, mode=args.mode)
    out = run.summary()
    if chosen:
        out["workers_chosen"] = chosen
    out["ok"] = not run.failed and not run.lost
    return out


def _export(args) -> dict:
    """Through the nbgrader export plugins of genlearn.course.lms, on the course's gradebook."""
    from nbgrader.api import Gradebook

    from .config import load_course
    from .lms import EXPORTERS, released_assignments

    if not (args.canvas or args.moodle):
        raise ValueError("say where to write: --canvas OUT.csv and/or --moodle OUT.csv")
    titles = {}
    for text in args.title:
        aid, sep, name = text.partition("=")
        if not sep or not aid or not name:
            raise ValueError(f"expected --title ASSIGNMENT=NAME (e.g. ex01_likelihood='Exercise 1'), got {text!r}")
        titles[aid.strip()] = name.strip()
    config, coursedir = load_course(args.course)
    released = released_assignments(config, coursedir.course_id)
    quiet = logging.getLogger("genlearn.course.export")  # the warnings are printed below, once
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    out, warnings = {}, []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for name, plugin_class in EXPORTERS.items():
            dest, template = getattr(args, name), getattr(args, f"{name}_template")
            if not dest:
                continue
            plugin = plugin_class(config=config, log=quiet, to=str(dest), assignment=args.assignments,
                                  released=released, template=str(template or ""), titles=titles)
            plugin.export(gb)
            out.setdefault("assignments", [a for a, _ in plugin.grades.assignments])
            out.setdefault("left_out", plugin.grades.left_out)
            out[name] = plugin.result
            warnings += [f"{name}: {w}" for w in out[name]["warnings"]]
    for w in warnings:
        print(f"genlearn-course export: WARNING {w}", file=sys.stderr)
    out["ok"] = not warnings
    return out


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    handler = {"setup": _setup, "accounts": _accounts, "autograde": _autograde, "export": _export}[args.command]
    try:
        result = handler(args)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError, KeyError) as exc:
        print(f"genlearn-course {args.command}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
