"""Instructors: formgrader and the nbgrader commands work on the course folder from anywhere.

The course folder's own nbgrader_config.py (written by `genlearn-course setup`) is read
after this one and wins.
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.environ.get("GENLEARN_COURSE_DIR", "/srv/genlearn/course")
