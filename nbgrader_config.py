"""nbgrader configuration for the genlearn course (read from the directory you run nbgrader in).

solutions/  the instructor's source notebooks: solutions and hidden tests (never give these out)
exercises/  the release, generated from solutions/ by `nbgrader generate_assignment`; committed
            so that students (and Binder) can open it directly. Never edit it by hand.

Working folders (gradebook.db, submitted/, autograded/, feedback/) are created next to this
file when you grade and are ignored by git. See docs/instructors.md.
"""

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

# The exchange (release / fetch / submit / collect) lives in /srv/nbgrader/exchange by
# default; on a JupyterHub set it here or in the hub's system-wide nbgrader_config.py:
# c.Exchange.root = "/srv/nbgrader/exchange"
