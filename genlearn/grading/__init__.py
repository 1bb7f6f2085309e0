"""Grading that an instructor can trust: nbgrader autograding, sandboxed and tamper-resistant.

The course's ``nbgrader_config.py`` turns it on with one call::

    from genlearn.grading import configure
    configure(c)

and instructors keep typing ``nbgrader autograde ex01_likelihood``. What it does, and what it
does not protect against, is explained in ``docs/instructors.md`` ("Grading you can trust").

* :mod:`.sandbox`: each submission's kernel runs under bubblewrap as an identity that owns
  nothing, without network, with memory/CPU/process/file-size limits, its processes ended
  with it; without a sandbox, autograde refuses (``c.Sandbox.allow_unsandboxed``).
* :mod:`.guard` and :mod:`.policy`: tampering with how tests run is detected at run time
  (an audit hook in the kernel, answering signed checks around every test cell) and in the
  source; the tests it touched score 0, and a report names what was found.
* :mod:`.checks`: helpers the tests use: :func:`~.checks.own_work` gives no credit for
  calling genlearn's own implementation of the function an exercise asks for, and
  :func:`~.checks.plain` refuses answers that are objects built to fool comparisons.
* :mod:`.feedback`: feedback shows each hidden test's name, points and failure message,
  never its source.

Importing this package does not import nbgrader; :func:`configure` and the preprocessors do.
"""

from __future__ import annotations

EXECUTE = "genlearn.grading.execute.SandboxedExecute"
FEEDBACK = "genlearn.grading.feedback.HideHiddenTests"


def configure(c) -> None:
    """Point nbgrader's autograde and feedback steps at genlearn's grading (in nbgrader_config.py)."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.converters.generate_feedback import GenerateFeedback

    from .autograde import install

    install()  # autograde copies regular files only, and grades each submission on its own
    steps = [EXECUTE if getattr(p, "__name__", p) == "Execute" else p
             for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    c.Autograde.autograde_preprocessors = steps
    c.GenerateFeedback.preprocessors = [FEEDBACK, *GenerateFeedback.class_traits()["preprocessors"].default()]
