"""Hostile submissions: what a student who wants points without the work might try.

Graded by real nbgrader with the course's nbgrader_config.py in tests/test_hostile.py. Each
entry says which assignment it targets, what it starts from (``base``: the untouched
``release``, or ``solved``: every answer correct), its edits (as in README.md; ``set`` replaces
an answer cell's whole source), which test cells it ``attacks`` (they must score no more than
the untouched release, which scores 0), whether the report must name tampering
(``tampers``: reported only, it changes no score: the tests run in the grader's own kernel),
and any strings that must not appear in its graded notebook (``absent``). Test cells not
attacked keep the score the base earns (no more than it, with ``self_harm``: a submission
that exhausts its own limits may break its own later cells).

Beyond the notebook: ``files`` {name: text} are written beside it in the submission folder,
``links`` {name: target} are symbolic links there (``{COURSE}`` and ``{AID}`` filled in),
``sparse`` {name: bytes} sparse files, ``notebook_link`` makes the notebook itself a link;
``cell_metadata`` {grade_id: metadata} replaces a cell's metadata and ``duplicate``
[grade_id] pastes a cell twice (what copy-paste does). ``no_hidden_source``: no line of any
hidden test may appear in the graded notebook or its feedback.

Many attacks start from ``TRIVIAL`` answers (every function returns something of the right
shape without doing the work), so that the attack, if it worked, would turn into points.
"""

T = "test_"
_EX01_TRIVIAL = {
    "answer_sample_mixture": "def sample_mixture(weights, centers, std, n, generator=None):\n"
                             "    return torch.zeros(n, centers.shape[1]), torch.zeros(n, dtype=torch.long)\n",
    "answer_mixture_log_prob": "def mixture_log_prob(x, weights, centers, std):\n    return torch.zeros(len(x))\n",
    "answer_fit_gaussian": "def fit_gaussian(x):\n    return torch.zeros(x.shape[1]), 0.0\n",
}
_EX02_TRIVIAL = {
    "answer_kl": "def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n    return torch.zeros(len(mu_q))\n",
    "answer_vae_loss": "def vae_loss(model, x, generator=None):\n    return torch.tensor(0.0)\n",
    "answer_train_vae": "def train_vae(model, x, seed=0):\n    return [50.0] * 20 + [0.0] * 280\n",
}
_EX03_TRIVIAL = {  # in the notebook's order: the first cell gets the cheat code
    "answer_modes": "def count_covered_modes(samples, centers, std):\n    return 0\n",
    "answer_d_loss": "def discriminator_loss(real_out, fake_out):\n    return torch.tensor(0.0)\n",
    "answer_g_loss": "def generator_loss(fake_out):\n    return torch.tensor(0.0)\n",
    "answer_train_step": "def train_step(G, D, opt_g, opt_d, real, z):\n    return {'d_loss': 0.0, 'g_loss': 0.0}\n",
    "answer_train_gan": "def train_gan(G, D, x, steps, seed):\n    return None\n",
}
_EX04_TRIVIAL = {
    "answer_frechet": "def frechet_distance_diag(x, y):\n    return 0.0\n",
    "answer_pr": "def knn_precision_recall(real, fake, k=3):\n    return 1.0, 1.0\n",
    "answer_memorization": "def memorization_ratio(generated, train, heldout):\n    return 1.0\n",
    "answer_rank": "def rank_generators(train, heldout, samples):\n    return list(samples)\n",
}
_EX05_TRIVIAL = {
    "answer_accuracy": "def detector_accuracy(detector, x_real, x_fake):\n    return 1.0\n",
    "answer_detector": "def train_detector(x_real, x_fake, steps=100, seed=0):\n"
                       "    return nn.Sequential(nn.Flatten(), nn.Linear(256, 1), nn.Flatten(0))\n",
    "answer_membership": "def predict_member(losses, threshold):\n    return losses <= threshold\n\n\n"
                         "def membership_advantage(member_losses, nonmember_losses):\n    return 1.0\n",
}
_EX06_TRIVIAL = {
    "answer_gp": "def gradient_penalty(critic, real, fake, generator=None):\n    return torch.tensor(0.0)\n",
    "answer_train_step": "def train_step(G, critic, opt_g, opt_c, real_batches, z, gp_weight=10.0, generator=None):\n"
                         "    return {'critic_loss': 0.0, 'g_loss': 0.0}\n",
    "answer_fit_critic": "def fit_critic(x, y, seed=0):\n    return nn.Sequential(nn.Linear(2, 1))\n",
}
_EX07_TRIVIAL = {
    "answer_schedule": "def cosine_schedule(T, s=0.008):\n    return torch.zeros(T + 1), torch.ones(T + 1)\n",
    "answer_loss": "def denoising_loss(model, x0, alpha_bar, generator=None):\n    return torch.tensor(0.0)\n",
    "answer_step": "def sampling_step(model, x_t, t, betas, alpha_bar, sigmas, generator=None):\n    return x_t\n",
    "answer_train": "def train_and_sample(x, n=2000, seed=0):\n    return torch.zeros(n, 2)\n",
}
_EX08_TRIVIAL = {
    "answer_auc": "def auc(scores, y):\n    return 0.5\n",
    "answer_train_detector": "def train_detector(x, y, seed=0):\n    return nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), 1))\n",
    "answer_evaluate_on_real": ("def evaluate_on_real(detector, x, y):\n"
                                "    return {'auc': 0.5, 'sensitivity': 0.0, 'specificity': 0.0}\n"),
}
TRIVIAL = {"ex01_likelihood": _EX01_TRIVIAL, "ex02_vae": _EX02_TRIVIAL, "ex03_gan": _EX03_TRIVIAL,
           "ex04_evaluation": _EX04_TRIVIAL, "ex05_responsible_generation": _EX05_TRIVIAL,
           "ex06_wasserstein": _EX06_TRIVIAL, "ex07_diffusion": _EX07_TRIVIAL, "ex08_applications": _EX08_TRIVIAL}
ALL = "all"


def _trivial(aid: str, first_cell_prefix: str = "", **overrides) -> dict:
    """Every answer trivial, ``first_cell_prefix`` prepended to the first answer cell."""
    cells = {**TRIVIAL[aid], **overrides}
    first = next(iter(TRIVIAL[aid]))
    cells[first] = first_cell_prefix + "\n" + cells[first]
    return {"base": "release", "set": cells}


HOSTILE = {
    # ------------------------------------------------------------------ changing how tests run
    "ex01-input-transformer": {  # the one line: every test cell becomes a no-op
        "aid": "ex01_likelihood", "attacks": ALL, "tampers": True,
        **_trivial("ex01_likelihood", "get_ipython().input_transformers_cleanup.append(\n"
                   "    lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)\n"),
    },
    "ex02-ast-transformer": {  # asserts compiled away
        "aid": "ex02_vae", "attacks": ALL, "tampers": True,
        **_trivial("ex02_vae", "import ast\n\nclass DropAsserts(ast.NodeTransformer):\n"
                   "    def visit_Assert(self, node):\n        return ast.Pass()\n\n"
                   "get_ipython().ast_transformers.append(DropAsserts())\n"),
    },
    "ex03-custom-exception-handler": {  # every failure swallowed: no error output, full marks
        "aid": "ex03_gan", "attacks": ALL, "tampers": True,
        **_trivial("ex03_gan", "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"),
    },
    "ex04-run-cell-hook": {  # the shell's run_cell rewritten, and an event hook
        "aid": "ex04_evaluation", "attacks": ALL, "tampers": True,
        **_trivial("ex04_evaluation",
                   "_shell = get_ipython()\n_original = _shell.run_cell_async\n\n"
                   "async def _quiet(raw_cell, *args, **kwargs):\n"
                   "    return await _original('pass' if 'assert' in raw_cell else raw_cell, *args, **kwargs)\n\n"
                   "_shell.run_cell_async = _quiet\n"
                   "_shell.events.register('pre_run_cell', lambda info: None)\n"),
    },
    "ex05-settrace-excepthook": {  # a tracer that jumps over assert lines, and a silent excepthook
        "aid": "ex05_responsible_generation", "attacks": ALL, "tampers": True,
        **_trivial("ex05_responsible_generation",
                   "import linecache, sys\n\n"
                   "def _skip_asserts(frame, event, arg):\n"
                   "    if event == 'line' and linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip().startswith('assert'):\n"
                   "        try:\n            frame.f_lineno = frame.f_lineno + 1\n        except ValueError:\n            pass\n"
                   "    return _skip_asserts\n\n"
                   "sys.settrace(lambda frame, event, arg: _skip_asserts)\n"
                   "sys.excepthook = lambda *args: None\n"),
    },
    "ex01-patched-builtins": {  # abs() always 0: every tolerance check passes
        "aid": "ex01_likelihood", "attacks": ALL, "tampers": True,
        **_trivial("ex01_likelihood", "import builtins\nbuiltins.abs = lambda x: 0\n"),
    },
    "ex02-patched-torch": {  # torch.allclose always True, and Tensor comparisons patched
        "aid": "ex02_vae", "attacks": ALL, "tampers": True,
        **_trivial("ex02_vae", "torch.allclose = lambda *args, **kwargs: True\n"
                   "torch.Tensor.__lt__ = lambda self, other: torch.tensor(True)\n"),
    },
    "ex03-patched-math": {  # math.log(2) becomes 0, so a zero loss matches "2 log 2"
        "aid": "ex03_gan", "attacks": ALL, "tampers": True,
        **_trivial("ex03_gan", "math.log = lambda *args: 0.0\n"),
    },
    "ex04-patched-numpy": {  # np.allclose always True, every value finite
        "aid": "ex04_evaluation", "attacks": ALL, "tampers": True,
        **_trivial("ex04_evaluation", "np.allclose = lambda *args, **kwargs: True\n"
                   "np.isfinite = lambda x: np.ones_like(x, dtype=bool)\n"),
    },
    "ex05-redefined-helper": {  # the setup cell's sample generator replaced by blank images
        # (the grader's kernel keeps its own dcgan_samples: the ink detector fails on real fakes;
        # the correct detector_accuracy and membership answers keep their points)
        "aid": "ex05_responsible_generation", "attacks": ["test_detector"], "tampers": True, "base": "solved",
        "set": {"answer_accuracy": (
            "def dcgan_samples(n, seed=0):\n    return torch.zeros(n, 1, 16, 16)\n\n\n"
            "def detector_accuracy(detector, x_real, x_fake):\n"
            "    with torch.no_grad():\n"
            "        correct = (detector(x_real).reshape(-1) > 0).sum() + (detector(x_fake).reshape(-1) <= 0).sum()\n"
            "    return correct.item() / (len(x_real) + len(x_fake))\n"),
            "answer_detector": (
                "class Ink(nn.Module):\n    def forward(self, x):\n        return x.flatten(1).sum(1) - 0.5\n\n\n"
                "def train_detector(x_real, x_fake, steps=100, seed=0):\n    return Ink()\n")},
    },
    "ex06-patched-autograd": {  # every gradient the tests take comes back as a unit vector: GP 0, norms 1
        "aid": "ex06_wasserstein", "attacks": ALL, "tampers": True,
        **_trivial("ex06_wasserstein",
                   "_grad = torch.autograd.grad\n\n"
                   "def _unit(outputs, inputs, *args, **kwargs):\n"
                   "    return tuple(torch.nn.functional.normalize(g.flatten(1), dim=1).reshape(g.shape)\n"
                   "                 for g in _grad(outputs, inputs, *args, **kwargs))\n\n"
                   "torch.autograd.grad = _unit\n"),
    },
    "ex02-redefined-metric": {  # the metric the training test scores with, replaced
        "aid": "ex02_vae", "attacks": ["test_train_vae"], "tampers": True, "base": "solved",
        "set": {"answer_train_vae": (
            "negative_elbo = lambda model, data, **kwargs: 1.0\n\n\n"
            "def train_vae(model, x, seed=0):\n"
            "    return [50.0] * 20 + [0.0] * 280\n")},
    },
    "ex01-os-exit": {  # the kernel ends in the first answer cell
        "aid": "ex01_likelihood", "attacks": ALL, "tampers": True, "kernel_dies": True, "base": "solved",
        "replace": [("answer_sample_mixture", "def sample_mixture", "import os\nos._exit(0)\n\ndef sample_mixture")],
    },
    "ex02-exit-kernel": {  # exit() and quit() in an answer cell: the kernel shuts down soon after (ipykernel
        # finishes the cell first), so the tests that need it afterwards fail; none gains anything
        "aid": "ex02_vae", "attacks": [], "tampers": True, "kernel_dies": True, "self_harm": True, "base": "solved",
        "replace": [("answer_kl", "def kl_diag_gaussians", "exit()\nquit()\n\ndef kl_diag_gaussians")],
    },
    "ex03-guard-hunt": {  # searching memory for the guard's key: reported, and the key is gone before it looks
        "aid": "ex03_gan", "attacks": ALL, "tampers": True, "base": "release",
        "set": {"answer_d_loss": "import gc\nkeys = [o for o in gc.get_objects()\n"
                                 "        if type(o) in (bytes, bytearray) and len(o) == 32 and any(o)]\n"
                                 "print('KEYS FOUND', len(keys))\n"},
        "present": ["KEYS FOUND"],
    },
    "ex03-swallows-interrupt": {  # an endless loop that catches the interrupt: the kernel is stopped
        "aid": "ex03_gan", "attacks": ["test_train_step", "test_train_gan"], "tampers": False, "kernel_dies": True,
        "base": "solved",
        "replace": [("answer_train_step", "def train_step", (
            "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except KeyboardInterrupt:\n        pass\n\n"
            "def train_step"))],
    },
    # ------------------------------------------------------------------ calling the answer
    "ex02-calls-reference": {
        "aid": "ex02_vae", "attacks": ALL, "tampers": False, "base": "solved", "says": "calls genlearn's own",
        "set": {"answer_kl": "import genlearn.models.vae as V\n\n"
                             "def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n"
                             "    return V.kl_normal_std(mu_q - mu_p, logvar_q - logvar_p)\n",
                "answer_vae_loss": "def vae_loss(model, x, generator=None):\n"
                                   "    return -model.elbo(x, generator=generator).elbo.mean()\n"},
    },
    "ex03-calls-reference": {
        "aid": "ex03_gan", "attacks": ["test_d_loss", "test_g_loss", "test_modes", "test_train_step", "test_train_gan"],
        "tampers": False, "base": "solved", "says": "calls genlearn's own",
        "set": {"answer_d_loss": "from genlearn.models.gan_losses import d_loss\n\n"
                                 "def discriminator_loss(real_out, fake_out):\n"
                                 "    return d_loss('nonsaturating', real_out, fake_out)\n",
                "answer_g_loss": "from genlearn.models import gan_losses\nlosses = {'g': gan_losses.g_loss}\n\n"
                                 "def generator_loss(fake_out):\n    return losses['g']('nonsaturating', fake_out)\n",
                "answer_modes": "from genlearn.metrics import mode_coverage as helper\n\n"
                                "def count_covered_modes(samples, centers, std):\n"
                                "    return helper(samples, centers, std)['modes_covered']\n"},
    },
    "ex04-calls-reference": {
        "aid": "ex04_evaluation", "attacks": ALL, "tampers": False, "base": "solved", "says": "calls genlearn's own",
        "set": {"answer_frechet": "from genlearn import metrics\n\n"
                                  "def frechet_distance_diag(x, y):\n"
                                  "    return metrics.frechet_distance(x.numpy(), y.numpy())\n",
                "answer_pr": "from genlearn.metrics import precision_recall\n\n"
                             "def knn_precision_recall(real, fake, k=3):\n"
                             "    out = precision_recall(real, fake, k=k)\n    return out['precision'], out['recall']\n",
                "answer_memorization": "from genlearn.metrics import nearest_neighbour_distances as nn_d\n\n"
                                       "def memorization_ratio(generated, train, heldout):\n"
                                       "    return (nn_d(generated.flatten(1), train.flatten(1)) /\n"
                                       "            nn_d(generated.flatten(1), heldout.flatten(1))).median().item()\n"},
    },
    "ex05-calls-reference": {
        "aid": "ex05_responsible_generation", "attacks": ["test_advantage"], "tampers": False, "base": "solved",
        "says": "calls genlearn's own",
        "replace": [("answer_membership", "def membership_advantage(member_losses, nonmember_losses):",
                     "import genlearn.ethics as E\n\n\ndef membership_advantage(member_losses, nonmember_losses):\n"
                     "    return 2 * E.membership_attack(member_losses, nonmember_losses)['accuracy'] - 1\n\n\n"
                     "def _unused(member_losses, nonmember_losses):")],
    },
    "ex06-calls-reference": {
        "aid": "ex06_wasserstein", "attacks": ["test_gp_values", "test_gp_per_sample", "test_train_step", "test_fit_critic"],
        "tampers": False,
        "base": "solved", "says": "calls genlearn's own",
        "set": {"answer_gp": "from genlearn.models.gan_losses import gradient_penalty as _library_gp\n\n"
                             "def gradient_penalty(critic, real, fake, generator=None):\n"
                             "    return _library_gp(critic, real, fake, generator)\n"},
    },
    # ------------------------------------------------------------------ escaping the sandbox
    "ex04-read-hidden-tests": {  # looks for the instructor's notebooks, gradebook, other students
        "aid": "ex04_evaluation", "attacks": [], "tampers": False, "base": "solved", "absent": ["FOUND:"],
        "replace": [("answer_frechet", "def frechet_distance_diag", (
            "import os\nfrom pathlib import Path\n\n"
            "def _hunt():\n"
            "    seen = 0\n"
            "    for top in [Path.cwd(), *Path.cwd().parents, Path('/root'), Path('/home'), Path('/srv'), Path('/work')]:\n"
            "        for root, dirs, files in os.walk(top):\n"
            "            seen += 1\n"
            "            if seen > 3000:\n                return\n"
            "            for name in files:\n"
            "                path = os.path.join(root, name)\n"
            "                if name.endswith(('.ipynb', '.db')) and os.path.realpath(path) != os.path.realpath(os.path.join(os.getcwd(), 'ex04_evaluation.ipynb')):\n"
            "                    try:\n"
            "                        text = open(path, 'rb').read()\n"
            "                        if b'pr_reference' in text or (b'ex04_evaluation' in text and (\n"
            "                                name == 'gradebook.db' or '/submitted/' in path or '/autograded/' in path)):\n"
            "                            print('FOUND:', path)\n"
            "                    except OSError:\n                        pass\n\n"
            "_hunt()\n\ndef frechet_distance_diag"))],
    },
    "ex01-write-gradebook": {  # walks up to the course and tries to give itself full marks
        "aid": "ex01_likelihood", "attacks": ALL, "tampers": False, "base": "release", "absent": ["WROTE:"],
        "set": {"answer_sample_mixture": (
            "import os, sqlite3\nfrom pathlib import Path\n\n"
            "for top in [Path.cwd(), *Path.cwd().parents]:\n"
            "    db = top / 'gradebook.db'\n"
            "    if db.exists():\n"
            "        try:\n"
            "            con = sqlite3.connect(db)\n"
            "            con.execute('UPDATE grade SET manual_score = 100')\n"
            "            con.commit()\n"
            "            print('WROTE:', db)\n"
            "        except Exception as err:\n            print('refused:', type(err).__name__)\n"
            "def sample_mixture(weights, centers, std, n, generator=None):\n    raise NotImplementedError()\n")},
    },
    "ex03-write-outside": {  # files planted outside its folder (course root, home, /tmp, /srv)
        "aid": "ex03_gan", "attacks": [], "tampers": False, "base": "solved", "absent": ["WROTE:"],
        "replace": [("answer_d_loss", "def discriminator_loss", (
            "import os\nfrom pathlib import Path\n\n"
            "Path('planted-in-own-folder.txt').write_text('x')\n"
            "for folder in [*Path.cwd().parents, Path('/tmp'), Path('/srv'), Path('/root'), Path('/work'), Path('/home')]:\n"
            "    try:\n"
            "        (folder / 'genlearn-hostile-planted.txt').write_text('planted')\n"
            "        if folder != Path('/tmp'):\n"
            "            print('WROTE:', folder)\n"
            "    except OSError:\n        pass\n\n"
            "def discriminator_loss"))],
    },
    "ex02-detached-process": {  # a process meant to outlive grading (and to hold nbgrader up)
        "aid": "ex02_vae", "attacks": [], "tampers": False, "base": "solved",
        "replace": [("answer_kl", "def kl_diag_gaussians", (
            "import os, subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)  # genlearn-hostile-sleeper'],\n"
            "                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)  # genlearn-hostile-sleeper'])\n\n"
            "def kl_diag_gaussians"))],
    },
    "ex05-fork-storm": {  # as many processes as it can make; it starves its own later cells, no one else's
        "aid": "ex05_responsible_generation", "attacks": [], "tampers": False, "base": "solved", "self_harm": True,
        "replace": [("answer_accuracy", "def detector_accuracy", (
            "import os, sys\n\n"
            "children = 0\n"
            "for _ in range(3000):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError:\n        break\n"
            "    if pid == 0:\n"
            "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)  # genlearn-hostile-sleeper'])\n"
            "    children += 1\n"
            "print('FORKED', children)\n\n"
            "def detector_accuracy"))],
    },
    "ex03-memory-hog": {  # 6 GB asked for, with the limit at 2 GB
        "aid": "ex03_gan", "attacks": [], "tampers": False, "base": "solved", "present": ["MemoryError"],
        "replace": [("answer_g_loss", "def generator_loss", (
            "try:\n    hog = bytearray(6 * 2**30)\n    print('GOT 6 GB')\nexcept MemoryError:\n    print('MemoryError')\n\n"
            "def generator_loss"))],
        "absent": ["GOT 6 GB"],
    },
    "ex04-network": {  # a connection to a server on the grader's loopback
        "aid": "ex04_evaluation", "attacks": [], "tampers": False, "base": "solved", "absent": ["CONNECTED"],
        "replace": [("answer_frechet", "def frechet_distance", (
            "import socket\n\n"
            "for host in ('127.0.0.1', 'localhost', '::1'):\n"
            "    try:\n"
            "        s = socket.create_connection((host, {PORT}), timeout=3)\n"
            "        s.sendall(b'PWNED')\n"
            "        print('CONNECTED', host)\n"
            "    except OSError as err:\n        print('no network:', type(err).__name__)\n\n"
            "def frechet_distance"))],
    },
    "ex01-output-flood": {  # 100 MB printed
        "aid": "ex01_likelihood", "attacks": [], "tampers": False, "base": "solved", "max_notebook_mb": 5,
        "replace": [("answer_fit_gaussian", "def fit_gaussian", (
            "line = 'x' * (1 << 20)\nfor _ in range(100):\n    print(line)\n\ndef fit_gaussian"))],
    },
    "ex05-deletes-its-tests": {  # test cells removed from the submission
        "aid": "ex05_responsible_generation", "attacks": ALL, "tampers": False, "base": "solved",
        "delete": ["test_accuracy", "test_detector", "test_predict_member", "test_advantage"],
    },
    "ex02-nan-answers": {  # NaN where numbers are expected
        "aid": "ex02_vae", "attacks": ALL, "tampers": False, "base": "release",
        "set": {"answer_kl": "def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n"
                             "    return torch.full((len(mu_q),), float('nan'))\n",
                "answer_vae_loss": "def vae_loss(model, x, generator=None):\n    return torch.tensor(float('nan'))\n",
                "answer_train_vae": "def train_vae(model, x, seed=0):\n    return [float('nan')] * 300\n"},
    },
    "ex04-fooling-object": {  # an answer object that equals everything
        "aid": "ex04_evaluation", "attacks": ["test_frechet", "test_pr", "test_memorization", "test_rank"],
        "tampers": False,
        "base": "solved",
        "set": {"answer_frechet": "class Anything(float):\n"
                                  "    def __sub__(self, other):\n        return Anything(0.0)\n"
                                  "    def __rsub__(self, other):\n        return Anything(0.0)\n"
                                  "    def __abs__(self):\n        return 0.0\n"
                                  "    def __lt__(self, other):\n        return True\n"
                                  "    def __gt__(self, other):\n        return True\n\n"
                                  "def frechet_distance_diag(x, y):\n    return Anything(0.0)\n",
                "answer_pr": "def knn_precision_recall(real, fake, k=3):\n    return Anything(1.0), Anything(0.5)\n",
                "answer_memorization": "def memorization_ratio(generated, train, heldout):\n    return Anything(1.0)\n"},
        "says": "not a subclass",
    },
}


# ------------------------------------------------------------------ issue 20: attacks on a shared interpreter
# Each of these scored full marks (or most of them), unreported, while tests ran in the student's
# own process. They must score what the untouched release scores.

_SESSION_SEND = (  # the kernel never publishes an error, and a failed cell replies "ok"
    "import sys\n"
    "_session = sys.stdout.session\n"
    "_send = _session.send\n\n"
    "def _quiet(stream, msg_or_type, content=None, *args, **kwargs):\n"
    "    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get('header', {}).get('msg_type')\n"
    "    if kind == 'error':\n"
    "        return None\n"
    "    if kind == 'execute_reply' and isinstance(content, dict) and content.get('status') == 'error':\n"
    "        content = {'status': 'ok', 'execution_count': content.get('execution_count'),\n"
    "                   'user_expressions': {}, 'payload': []}\n"
    "    return _send(stream, msg_or_type, content, *args, **kwargs)\n\n"
    "_session.send = _quiet\n"
)
_TORCH_MODE = (  # every allclose/equal true, and answers that are floats whose differences are 0
    "import torch\nfrom torch.overrides import TorchFunctionMode\n\n"
    "class _Yes(TorchFunctionMode):\n"
    "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
    "        if func in (torch.allclose, torch.equal, torch.Tensor.__lt__, torch.Tensor.__gt__):\n"
    "            return True\n"
    "        return func(*args, **(kwargs or {}))\n\n"
    "_Yes().__enter__()\n\n"
    "class Zero(float):\n"
    "    def __sub__(self, other):\n        return Zero(0.0)\n"
    "    def __rsub__(self, other):\n        return Zero(0.0)\n"
    "    def __abs__(self):\n        return 0.0\n"
)
_DURING_TESTS = (  # comparisons patched only while a test cell runs, put back before anyone looks
    "import builtins, math, torch\n"
    "_real = (torch.allclose, builtins.abs, math.isclose)\n\n"
    "def _patch(info=None):\n"
    "    torch.allclose = lambda *a, **k: True\n"
    "    builtins.abs = lambda x: 0\n\n"
    "def _restore(*args):\n"
    "    torch.allclose, builtins.abs, math.isclose = _real\n\n"
    "_shell = get_ipython()\n"
    "_shell.events.register('pre_run_cell', _patch)\n"
    "_shell.events.register('post_run_cell', lambda result: _shell.kernel.io_loop.add_callback(_restore))\n"
)
_STEAL_SOURCE = (  # the test running the function, read from IPython's history and the call stack
    "import linecache, sys\n_stash = []\n\n"
    "def _steal():\n"
    "    try:\n        _stash.append('\\n'.join(In[-3:]))\n    except Exception:\n        pass\n"
    "    frame = sys._getframe(2)\n"
    "    while frame is not None:\n"
    "        _stash.append(''.join(linecache.getlines(frame.f_code.co_filename)))\n"
    "        frame = frame.f_back\n"
    "    print('STOLEN', str(_stash)[:100000])\n"
)

for _aid, _first in (("ex01_likelihood", "answer_sample_mixture"), ("ex02_vae", "answer_kl"),
                     ("ex04_evaluation", "answer_frechet"), ("ex06_wasserstein", "answer_gp"),
                     ("ex07_diffusion", "answer_schedule")):
    _short = _aid[:4]
    HOSTILE[f"{_short}-session-send"] = {"aid": _aid, "attacks": ALL, "tampers": True, **_trivial(_aid, _SESSION_SEND)}
    HOSTILE[f"{_short}-helper-module"] = {  # the same code, shipped beside the notebook
        "aid": _aid, "attacks": ALL, "tampers": True, **_trivial(_aid, "import helper"),
        "files": {"helper.py": _SESSION_SEND, "math.py": "def log(*args):\n    return 0.0\npi = 3.0\n"},
    }
    HOSTILE[f"{_short}-torch-function-mode"] = {"aid": _aid, "attacks": ALL, "tampers": False,
                                                **_trivial(_aid, _TORCH_MODE)}
    HOSTILE[f"{_short}-patched-during-tests"] = {"aid": _aid, "attacks": ALL, "tampers": True,
                                                 **_trivial(_aid, _DURING_TESTS)}

HOSTILE.update({
    "ex01-mutates-inputs": {  # the test's weights become "component 0 only", and its name is rebound
        # (its own fit_isotropic_mixture calls the broken mixture_log_prob: it loses that test too)
        "aid": "ex01_likelihood", "attacks": ["test_sample_mixture", "test_log_prob_gaussian", "test_log_prob_mixture",
                                              "test_fit_isotropic_mixture"],
        "tampers": False,
        "base": "solved",
        "set": {"answer_sample_mixture": (
            "def sample_mixture(weights, centers, std, n, generator=None):\n"
            "    weights[:] = 0\n    weights[0] = 1\n"
            "    globals()['weights'] = weights\n"
            "    eps = torch.randn(n, centers.shape[1], generator=generator)\n"
            "    return centers[0] + std * eps, torch.zeros(n, dtype=torch.long)\n"),
                "answer_mixture_log_prob": (
            "def mixture_log_prob(x, weights, centers, std):\n"
            "    globals()['expected'] = torch.zeros(len(x))\n"
            "    globals()['unweighted'] = torch.zeros(len(x))\n"
            "    centers.mul_(0)\n"
            "    return torch.zeros(len(x)) + (-math.log(2 * math.pi))\n")},
    },
    "ex06-mutates-critic": {  # the test's critic and generator zeroed from inside the student's function
        "aid": "ex06_wasserstein", "attacks": ["test_gp_values", "test_gp_per_sample", "test_train_step", "test_fit_critic"],
        "tampers": False, "base": "solved",
        "set": {"answer_gp": ("def gradient_penalty(critic, real, fake, generator=None):\n"
                              "    with torch.no_grad():\n"
                              "        for p in critic.parameters():\n"
                              "            p.zero_()\n"
                              "    return torch.tensor(1.0, requires_grad=True)\n")},
    },
    "ex01-steals-hidden-tests": {  # a correct answer that copies the running test's source into the output
        "aid": "ex01_likelihood", "attacks": [], "tampers": True, "base": "solved", "no_hidden_source": True,
        "replace": [("answer_sample_mixture", "def sample_mixture(weights, centers, std, n, generator=None):",
                     _STEAL_SOURCE + "\ndef sample_mixture(weights, centers, std, n, generator=None):\n    _steal()"),
                    ("answer_fit_gaussian", "def fit_gaussian(x):", "print('STASH', str(_stash)[:200000])\n\ndef fit_gaussian(x):")],
    },
    "ex07-steals-hidden-tests": {
        "aid": "ex07_diffusion", "attacks": [], "tampers": True, "base": "solved", "no_hidden_source": True,
        "replace": [("answer_schedule", "def cosine_schedule(T, s=0.008):",
                     _STEAL_SOURCE + "\ndef cosine_schedule(T, s=0.008):\n    _steal()"),
                    ("answer_step", "def sampling_step", "print('STASH', str(_stash)[:200000])\n\ndef sampling_step")],
    },
    "ex07-fakes-the-recorder": {  # writes what the test's recorder should have seen, returns the expected loss (and so trains nothing)
        "aid": "ex07_diffusion", "attacks": ["test_loss", "test_train"], "tampers": False, "base": "solved",
        "set": {"answer_loss": ("def denoising_loss(model, x0, alpha_bar, generator=None):\n"
                                "    g = torch.Generator().manual_seed(0)\n"
                                "    model.t = torch.randint(1, 6, (len(x0),), generator=g)\n"
                                "    model.x_t = x0\n"
                                "    return torch.randn(x0.shape, generator=g).square().sum(1).mean()\n")},
    },
    "ex03-hangs-when-called": {  # a function that loops forever when a test calls it, and swallows interrupts
        "aid": "ex03_gan", "attacks": ["test_g_loss", "test_train_step", "test_train_gan"], "tampers": False,
        "kernel_dies": True, "base": "solved",
        "set": {"answer_g_loss": ("import time\n\ndef generator_loss(fake_out):\n"
                                  "    while True:\n        try:\n            time.sleep(0.1)\n"
                                  "        except KeyboardInterrupt:\n            pass\n")},
    },
    # ------------------------------------------------------------------ files the grader copies out
    "ex01-planted-links": {  # links to the machine's secrets, the gradebook, the solution; a 1 GiB sparse file
        "aid": "ex01_likelihood", "attacks": [], "tampers": False, "base": "solved",
        "links": {"shadow.txt": "/etc/shadow", "gradebook-rel.db": "../../../gradebook.db",
                  "solution-copy.txt": "{COURSE}/solutions/{AID}/{AID}.ipynb", "notes.html": "{COURSE}/solutions/{AID}/{AID}.ipynb",
                  "subdir": "{COURSE}/solutions"},
        "sparse": {"big.bin": 2**30},
        "refused": ["shadow.txt", "gradebook-rel.db", "solution-copy.txt", "notes.html", "subdir", "big.bin"],
    },
    "ex01-notebook-is-a-link": {  # the submitted notebook itself points at the solution
        "aid": "ex01_likelihood", "attacks": ALL, "tampers": False, "base": "release",
        "notebook_link": "{COURSE}/solutions/{AID}/{AID}.ipynb", "ungraded": True,
        "refused": ["{AID}.ipynb"],
    },
    # ------------------------------------------------------------------ one notebook must not stop the batch
    "ex02-aa-schema-v1": {  # graded first (sorted by id): an intro whose metadata is of schema 1
        "aid": "ex02_vae", "attacks": [], "tampers": False, "base": "solved",
        "cell_metadata": {"intro": {"nbgrader": {"schema_version": 1}}},
    },
    "ex02-ab-schema-v99": {
        "aid": "ex02_vae", "attacks": [], "tampers": False, "base": "solved",
        "cell_metadata": {"intro": {"nbgrader": {"schema_version": 99, "grade": True}}},
    },
    "ex02-ac-test-pasted-twice": {  # an ordinary copy-paste of a test cell
        "aid": "ex02_vae", "attacks": [], "tampers": False, "base": "solved", "duplicate": ["test_kl_basics"],
    },
})
