"""What the course's exchange costs at collect time, against nbgrader's own (an A/B pair).

Prepares one course and 28 submissions of ex01 (the solved notebook) in both layouts:
nbgrader's (``inbound/<student>+<assignment>+<time>+<random>/``) and the course's
(``inbound/<student>/<assignment>+<random>/``, read with the "mount" identity so that no Unix
accounts are needed; "owner" adds one ``getpwnam`` per student). Prints the two commands, each
one whole ``nbgrader collect`` of the class into an empty ``submitted/``, for a timer that runs
them in turn (medians of A/B pairs), e.g. ``/usr/bin/time``:

    python benchmarks/exchange_collect.py prepare /tmp/xc      # prints the A and B commands
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
import nbformat  # noqa: E402

import grading_tools as gt  # noqa: E402
from genlearn.course import create  # noqa: E402

AID = "ex01_likelihood"
N = 28


def prepare(work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    course, new, old = work / "course", work / "exchange-new", work / "exchange-old"
    create.create_course(create.CourseSpec(course, ROOT, exchange=new, assignments=[AID]))
    source = nbformat.read(course / "solutions" / AID / f"{AID}.ipynb", 4)
    nb = nbformat.writes(gt.student_notebook(source, nbformat.read(gt.RELEASE / AID / f"{AID}.ipynb", 4)))
    (old / "genlearn" / "inbound").mkdir(parents=True)
    for i in range(N):
        sid = f"s{i:02d}"
        for folder in (new / "genlearn" / "inbound" / sid / f"{AID}+Token{i:02d}xxxxxxx",
                       old / "genlearn" / "inbound" / f"{sid}+{AID}+2026-12-01 10:00:00.000000 UTC+Token{i:02d}xxxxxxx"):
            folder.mkdir(parents=True)
            (folder / f"{AID}.ipynb").write_text(nb)
            (folder / "submission_secret.txt").write_text("x" * 128)
            (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    py = shlex.quote(sys.executable)
    base = f"cd {shlex.quote(str(course))} && rm -rf submitted && {py} -m nbgrader collect {AID} --update"
    return {"A (course exchange)": f"sh -c '{base} --Exchange.root={new} --CourseExchange.identity=mount'",
            "B (nbgrader's)": f"sh -c '{base} --Exchange.root={old} "
                              "--ExchangeFactory.collect=nbgrader.exchange.default.ExchangeCollect'"}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "prepare":
        sys.exit(__doc__)
    for name, command in prepare(Path(sys.argv[2])).items():
        print(f"{name}: {command}")
