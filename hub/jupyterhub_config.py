"""JupyterHub for the genlearn course on one machine (The Littlest JupyterHub's shape).

Start it with ``hub/start`` (docs/hub.md). Everything a course team changes is an
environment variable with the default shown; ``hub/install`` writes them to
``$GENLEARN_HUB_PREFIX/etc/hub.env``, which ``hub/start`` reads.

    GENLEARN_HUB_PREFIX       /opt/genlearn-hub       the users' Python environment, the proxy, this file
    GENLEARN_HUB_STATE        /srv/genlearn-hub       the hub's database and cookie secret (root only)
    GENLEARN_HUB_IP           127.0.0.1               where the proxy listens (0.0.0.0 behind a TLS terminator)
    GENLEARN_HUB_PORT         8000                    its port
    GENLEARN_HUB_API_PORT     8001                    the proxy's REST API (always on 127.0.0.1)
    GENLEARN_HUB_HUB_PORT     8081                    the hub itself (always on 127.0.0.1)
    GENLEARN_COURSE_ID        genlearn
    GENLEARN_COURSE_DIR       /srv/genlearn/course    made by `genlearn-course setup`
    GENLEARN_EXCHANGE         /srv/nbgrader/exchange  nbgrader's exchange (mode 1777)
    GENLEARN_INSTRUCTORS      genlearn-instructors    Unix group: formgrader, the course folder
    GENLEARN_STUDENTS         genlearn-students       Unix group: may log in
    GENLEARN_MEM_LIMIT        2G                      per process of a user's server (RLIMIT_AS)
    GENLEARN_CPU_LIMIT        1                       threads per kernel
    GENLEARN_IDLE_MINUTES     60                      stop servers idle this long (0: never)
    GENLEARN_CONCURRENT_STARTS  (the CPUs)            servers starting at once, the rest in line (0: no line)
    GENLEARN_SERVER_TEMPLATE  1                       fork servers from a pre-imported template (0: a new interpreter each)

Users log in with their Unix password (PAM); only members of the two groups may.
"""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from genlearn_hub import CourseSpawner  # noqa: E402

c = get_config()  # noqa: F821
env = os.environ.get
prefix = env("GENLEARN_HUB_PREFIX", "/opt/genlearn-hub")
state = env("GENLEARN_HUB_STATE", "/srv/genlearn-hub")

# -- network: the proxy is the only public port; the hub and the proxy's API stay on loopback
c.JupyterHub.ip = env("GENLEARN_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(env("GENLEARN_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env("GENLEARN_HUB_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('GENLEARN_HUB_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [os.path.join(prefix, "proxy", "node_modules", ".bin", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.should_start = True

# -- state, outside the code: a restart keeps users and servers
c.JupyterHub.db_url = f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "jupyterhub-proxy.pid")

# -- who may log in: Unix accounts in the course's groups (genlearn-course accounts makes them)
instructors = env("GENLEARN_INSTRUCTORS", "genlearn-instructors")
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {instructors, env("GENLEARN_STUDENTS", "genlearn-students")}
c.PAMAuthenticator.open_sessions = False  # PAM sessions need systemd-logind; nothing here uses them

# -- each user's JupyterLab, as that user, from the course's environment
c.JupyterHub.spawner_class = CourseSpawner
c.Spawner.cmd = [os.path.join(sys.prefix, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# start_timeout includes the wait in the start line (genlearn_hub.py): 600 s lets a whole class of
# a few hundred log in at 9:00; a server that fails or hangs is given up after http_timeout.
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 120
c.Spawner.mem_limit = env("GENLEARN_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(env("GENLEARN_CPU_LIMIT", "1"))
c.CourseSpawner.instructors_group = instructors
c.CourseSpawner.config_root = os.path.join(prefix, "etc", "jupyter")
c.CourseSpawner.course_id = env("GENLEARN_COURSE_ID", "genlearn")
c.CourseSpawner.course_dir = env("GENLEARN_COURSE_DIR", "/srv/genlearn/course")
c.CourseSpawner.exchange_root = env("GENLEARN_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseSpawner.server_template = env("GENLEARN_SERVER_TEMPLATE", "1") != "0"
if env("GENLEARN_CONCURRENT_STARTS"):
    c.CourseSpawner.concurrent_starts = int(env("GENLEARN_CONCURRENT_STARTS"))

# -- stop idle servers (a class of 200 leaves many open tabs): jupyterhub-idle-culler
idle = int(env("GENLEARN_IDLE_MINUTES", "60"))
if idle:
    c.JupyterHub.load_roles = [{"name": "idle-culler", "services": ["idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}]
    c.JupyterHub.services = [{"name": "idle-culler",
                              "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle * 60}"]}]
