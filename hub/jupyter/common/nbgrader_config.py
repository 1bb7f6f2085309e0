"""nbgrader settings every user of the hub shares: which course, where its exchange is, and
the exchange's classes (genlearn.course.exchange: attributable, private, regular files only).

The hub passes GENLEARN_COURSE_ID and GENLEARN_EXCHANGE to each user's server (see
hub/jupyterhub_config.py); nbgrader reads this file from JUPYTER_CONFIG_PATH.
"""
import os

from genlearn.course.exchange import configure as configure_exchange

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("GENLEARN_COURSE_ID", "genlearn")
configure_exchange(c, os.environ.get("GENLEARN_EXCHANGE_IDENTITY", "owner"))
c.Exchange.root = os.environ.get("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")
