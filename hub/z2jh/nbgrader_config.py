"""nbgrader for every user of the Zero to JupyterHub deployment: ngshare is the exchange.

On Kubernetes every user's server runs as the same uid (jovyan) in its own pod, so the
one-machine exchange (a shared folder guarded by Unix permissions) would let students read
and remove each other's submissions; ngshare keeps the exchange behind the hub's
authentication instead. Baked into the image as /etc/genlearn/jupyter/common/nbgrader_config.py.
"""
import os

from ngshare_exchange import configureExchange

c = get_config()  # noqa: F821
configureExchange(c, "http://ngshare:8080/services/ngshare")
c.CourseDirectory.course_id = os.environ.get("GENLEARN_COURSE_ID", "genlearn")
