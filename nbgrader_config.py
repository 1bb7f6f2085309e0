"""nbgrader configuration for the genlearn course (read from the directory you run nbgrader in).

solutions/  the instructor's source notebooks: solutions and hidden tests (never give these out)
exercises/  the release, generated from solutions/ by `nbgrader generate_assignment`; committed
            so that students (and Binder) can open it directly. Never edit it by hand.

Working folders (gradebook.db, submitted/, autograded/, feedback/) are created next to this
file when you grade and are ignored by git. See docs/instructors.md.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "genlearn"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Every cell of the exercises runs in a few seconds on 2 CPU cores (training cells use tiny,
# fixed budgets). A cell still running after 20 s is stuck (an infinite loop, say): it is
# interrupted and scores 0, and grading goes on with the next cell and the next student.
c.ExecutePreprocessor.timeout = 20

# Grading you can trust (docs/instructors.md): every submission runs in a sandbox (its own
# identity, no network, limits, nothing left running), tampering with how tests run is
# detected and scores 0 for the tests it touched, and feedback never shows hidden tests.
# With no sandbox on this machine, autograde refuses with one line saying why.
from genlearn.grading import configure  # noqa: E402

configure(c)
c.Sandbox.memory_limit = "2G"          # address space of each process the notebook starts
c.Sandbox.cpu_seconds = 900            # CPU time of the whole notebook
c.Sandbox.max_processes = 128          # processes and threads at once
c.Sandbox.max_file_size = "64M"
# c.Sandbox.allow_unsandboxed = True   # ONLY on a machine and for code you trust

# The exchange (release / fetch / submit / collect): nbgrader's commands, with genlearn's
# classes, which know who submitted what (the account that owns the submission), take the
# time from the exchange (never from the student), copy regular files only and keep each
# student's submissions and feedback private (docs/hub.md, "Who sees what"). It lives in
# $GENLEARN_EXCHANGE (the hub's setting too), else /srv/nbgrader/exchange, unless
# `genlearn-course setup --exchange` (or c.Exchange.root) says otherwise.
from genlearn.course.exchange import configure as configure_exchange  # noqa: E402

configure_exchange(c)
c.Exchange.root = os.environ.get("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")

# Student HTML and Markdown (written answers, outputs) are sanitized before formgrader or the
# feedback shows them: no script of a student's runs in the instructor's browser.
c.HTMLExporter.preprocessors = ["genlearn.course.sanitize.SanitizeStudentHTML"]

# ---- Submissions from an LMS: `nbgrader zip_collect` (see docs/hub.md, "Grades out, submissions in") ----
# Put the archive Canvas or Moodle gives you in downloaded/<assignment>/archive/ and run
# `nbgrader zip_collect <assignment>`: each notebook lands in submitted/<student>/<assignment>/.
# Both name files after the student's *name*; genlearn's collector (genlearn.course.lms) finds
# the student id by matching it, in either order, against the roster in the gradebook
# (`genlearn-course setup --roster`). The first pattern that matches a file's path wins.
c.ZipCollectApp.collector_plugin = "genlearn.course.lms.LMSFileNameCollector"
c.LMSFileNameCollector.named_regexps = [
    # Canvas "Download Submissions": lovelaceada_12345_6789012_ex01_likelihood.ipynb
    # (sortable name, any letters, núñezjosé too; _LATE after it when late; user and submission
    # ids; -1, -2 for resubmissions). Files Canvas flags as late are listed by zip_collect.
    r".*/(?P<lms_name>[^\W_]+)_(?:(?P<late>LATE)_)?\d+_\d+_(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$",
    # Moodle "Download all submissions": "Ada Lovelace_123456_assignsubmission_file_/ex01_likelihood.ipynb"
    # (in folders) or "..._assignsubmission_file_ex01_likelihood.ipynb" (flat)
    r".*/(?P<lms_name>[^/_]+)_\d+_assignsubmission_file_/?(?P<file_id>[^/]+)\.ipynb$",
]
