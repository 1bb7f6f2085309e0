"""nbgrader settings every user of the hub shares: which course, and where its exchange is.

The hub passes GENLEARN_COURSE_ID and GENLEARN_EXCHANGE to each user's server (see
hub/jupyterhub_config.py); nbgrader reads this file from JUPYTER_CONFIG_PATH.
"""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("GENLEARN_COURSE_ID", "genlearn")
c.Exchange.root = os.environ.get("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")
