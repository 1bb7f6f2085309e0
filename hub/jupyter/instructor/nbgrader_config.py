"""Instructors: formgrader and the nbgrader commands work on the course folder from anywhere.

GENLEARN_COURSE_DIR is ~/course-<course id>, a link to the course folder that the hub makes
(formgrader needs the course inside the server's root). The instructor's server runs in their
home, where nbgrader looks for no course config, so the course folder's own nbgrader_config.py
(written by `genlearn-course setup`) is loaded from here: formgrader's autograde button then
grades as `nbgrader autograde` does, in the grader's own sandboxed kernel (docs/instructors.md).
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.environ.get("GENLEARN_COURSE_DIR", "/srv/genlearn/course")
_course_config = os.path.join(c.CourseDirectory.root, "nbgrader_config.py")
if os.path.isfile(_course_config):
    load_subconfig(_course_config)  # noqa: F821 (provided by traitlets' config loader)

# Formgrader and feedback show students' HTML and Markdown only sanitized: no student's script
# runs in an instructor's browser (genlearn.course.sanitize; docs/hub.md, "Who sees what").
c.HTMLExporter.preprocessors = ["genlearn.course.sanitize.SanitizeStudentHTML"]
