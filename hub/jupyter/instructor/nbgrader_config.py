"""Instructors: formgrader and the nbgrader commands work on the course folder from anywhere.

GENLEARN_COURSE_DIR is ~/course-<course id>, a link to the course folder that the hub makes
(formgrader needs the course inside the server's root). The course folder's own
nbgrader_config.py (written by `genlearn-course setup`) is read after this one.
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.environ.get("GENLEARN_COURSE_DIR", "/srv/genlearn/course")

# Formgrader and feedback show students' HTML and Markdown only sanitized: no student's script
# runs in an instructor's browser (genlearn.course.sanitize; docs/hub.md, "Who sees what").
c.HTMLExporter.preprocessors = ["genlearn.course.sanitize.SanitizeStudentHTML"]
