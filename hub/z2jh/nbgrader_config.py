"""nbgrader for every user of the Zero to JupyterHub deployment: the course's own exchange
(genlearn.course.exchange) on a shared ReadWriteMany volume, with ``identity = "mount"``.

On Kubernetes every user's server runs as the same uid (jovyan) in its own pod, so file
owners cannot tell students apart. The hub's pre-spawn hook (values.yaml, hub.extraConfig)
mounts into a student's pod only ``genlearn/outbound`` (read-only), ``genlearn/inbound/<user>``
and ``genlearn/feedback/<user>`` (read-only) of the exchange volume: a student's server can
reach no other student's folder, and the folder a submission is in is the hub's identity of
whoever made it. Instructors' pods mount the whole volume. Baked into the image as
/etc/genlearn/jupyter/common/nbgrader_config.py.
"""
import os

from genlearn.course.exchange import configure as configure_exchange

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("GENLEARN_COURSE_ID", "genlearn")
configure_exchange(c, "mount")
c.Exchange.root = os.environ.get("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")
