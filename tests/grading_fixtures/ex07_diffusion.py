"""Wrong submissions for ex07_diffusion (see README.md)."""

_STEP = "x0_hat = alpha_bar[t].sqrt() * x_t - (1 - alpha_bar[t]).sqrt() * v_hat"

SUBMISSIONS = {
    # ------------------------------------------------------------------ the cosine schedule
    "schedule-not-normalized": {
        "mistake": "alpha_bar_t = f(t), not divided by f(0): alpha_bar_0 is 0.99984, not 1",
        "replace": [("answer_schedule", "alpha_bar = f / f[0]", "alpha_bar = f")],
        "fails": {"test_schedule": "divide by f(0)"},
    },
    "schedule-cos-not-squared": {
        "mistake": "f(t) = cos(...) instead of cos^2(...)",
        "replace": [("answer_schedule", "* math.pi / 2) ** 2", "* math.pi / 2)")],
        "fails": {"test_schedule": "You used cos, not cos^2"},
    },
    "schedule-beta-differences": {
        "mistake": "beta_t = alpha_bar_{t-1} - alpha_bar_t, a difference where the ratio belongs",
        "replace": [("answer_schedule", "(1 - alpha_bar[1:] / alpha_bar[:-1])", "(alpha_bar[:-1] - alpha_bar[1:])")],
        "fails": {"test_schedule": "the betas multiply"},
    },
    "schedule-no-clip": {
        "mistake": "betas not clipped at 0.999: beta_T = 1, alpha_T = 0",
        "replace": [("answer_schedule", ".clamp(max=0.999)", "")],
        "fails": {"test_schedule": "clip the betas at 0.999"},
    },
    # ------------------------------------------------------------------ the v-prediction loss
    "loss-eps-target": {
        "mistake": "regresses on the noise eps (lesson 11's loss) instead of on v",
        "replace": [("answer_loss", "return (v - model(x_t, t))", "return (noise - model(x_t, t))")],
        "fails": {"test_loss": "Your target is the noise eps"},
        "also_fails": ["test_train"],  # the sampler reads the output as v
    },
    "loss-v-sign": {
        "mistake": "v with the wrong sign, sqrt(1 - alpha_bar_t) x_0 - sqrt(alpha_bar_t) eps",
        "replace": [("answer_loss", "v = a * noise - b * x0", "v = b * x0 - a * noise")],
        "fails": {"test_loss": "Your v has the wrong sign"},
        "also_fails": ["test_train"],
    },
    "loss-v-coefficients-swapped": {
        "mistake": "v = sqrt(1 - alpha_bar_t) eps - sqrt(alpha_bar_t) x_0, the coefficients swapped",
        "replace": [("answer_loss", "v = a * noise - b * x0", "v = b * noise - a * x0")],
        "fails": {"test_loss": "You swapped the coefficients"},
        "also_fails": ["test_train"],
    },
    "loss-network-gets-x0": {
        "mistake": "the network is given x_0 instead of x_t",
        "replace": [("answer_loss", "model(x_t, t)", "model(x0, t)")],
        "fails": {"test_loss": "The model got x_0 itself"},
        "also_fails": ["test_train"],
    },
    "loss-no-grad": {
        "mistake": "computes the loss under torch.no_grad(): no gradient reaches the network",
        "replace": [("answer_loss", "    return (v - model(x_t, t)).square().sum(1).mean()",
                     "    with torch.no_grad():\n        return (v - model(x_t, t)).square().sum(1).mean()")],
        "fails": {"test_loss": "the loss must be differentiable"},
        "also_fails": ["test_train"],  # loss.backward() fails: nothing requires grad
    },
    "loss-prediction-detached": {
        "mistake": "detaches the network's output: the gradient is cut before the loss",
        "replace": [("answer_loss", "model(x_t, t))", "model(x_t, t).detach())")],
        "fails": {"test_loss": "the loss must be differentiable"},
        "also_fails": ["test_train"],
    },
    "loss-t-over-T": {
        "mistake": "gives the network t / T (floats) instead of the integer steps",
        "replace": [("answer_loss", "model(x_t, t)", "model(x_t, t.float() / T)")],
        "fails": {"test_loss": "You passed t / T"},
        "also_fails": ["test_train"],  # trained on t / T, sampled with integer t
    },
    "loss-one-t-per-batch": {
        "mistake": "draws one step t for the whole batch",
        "replace": [("answer_loss", "t = torch.randint(1, T + 1, (len(x0),), generator=generator)",
                     "t = torch.randint(1, T + 1, (1,), generator=generator).expand(len(x0))")],
        "fails": {"test_loss": "you drew one t for the whole batch"},
    },
    "loss-t-from-zero": {
        "mistake": "draws t from 0..T-1 (torch.randint(0, T)): trains on clean data, never on step T",
        "replace": [("answer_loss", "t = torch.randint(1, T + 1, (len(x0),), generator=generator)",
                     "t = torch.randint(0, T, (len(x0),), generator=generator)")],
        "fails": {"test_loss": "steps must run over 1..T"},
    },
    "loss-mean-over-coordinates": {
        "mistake": "averages the squared error over the coordinates too, instead of summing them",
        "replace": [("answer_loss", "(v - model(x_t, t)).square().sum(1).mean()", "(v - model(x_t, t)).square().mean()")],
        "fails": {"test_loss": "You averaged over the coordinates too"},
    },
    # ------------------------------------------------------------------ the sampling step
    "step-sqrt-beta-noise": {
        "mistake": "hard-codes the noise scale sqrt(beta_t) and ignores the sigmas it is given",
        "replace": [("answer_step", "sigmas[t] * torch.randn", "betas[t].sqrt() * torch.randn")],
        "fails": {"test_step": "the noise scale is the argument sigmas"},
    },
    "step-lesson-eps-formula": {
        "mistake": "lesson 11's step, which reads the network's output as the noise eps",
        "replace": [("answer_step", "mean = (alpha_bar[t - 1].sqrt() * betas[t] * x0_hat\n"
                     "            + (1 - betas[t]).sqrt() * (1 - alpha_bar[t - 1]) * x_t) / (1 - alpha_bar[t])",
                     "mean = (x_t - betas[t] / (1 - alpha_bar[t]).sqrt() * v_hat) / (1 - betas[t]).sqrt()")],
        "fails": {"test_step": "You read the output as the noise eps"},
        "also_fails": ["test_train"],
    },
    "step-x0-sign": {
        "mistake": "x0_hat = sqrt(alpha_bar_t) x_t + sqrt(1 - alpha_bar_t) v, the sign of v flipped",
        "replace": [("answer_step", _STEP, _STEP.replace("x_t - (1", "x_t + (1"))],
        "fails": {"test_step": "Check the sign in x0_hat"},
        "also_fails": ["test_train"],
    },
    "step-noise-at-last-step": {
        "mistake": "adds sigma_t z at every step, also at t = 1 where x_0 must be the mean alone",
        "replace": [("answer_step", "    if t == 1:\n        return mean\n", "")],
        "fails": {"test_step": "you added noise at the last step"},
    },
    "step-model-off-by-one": {
        "mistake": "asks the network about step t - 1 instead of t",
        "replace": [("answer_step", "torch.full((len(x_t),), t, dtype=torch.long)",
                     "torch.full((len(x_t),), t - 1, dtype=torch.long)")],
        "fails": {"test_step": "the integer step t of every example"},
    },
    # ------------------------------------------------------------------ the colleague's run
    "train-colleague-as-is": {
        "mistake": "hands in the colleague's run unchanged (zero_grad after backward, samples left standardized)",
        "set": {"answer_train": ("def train_and_sample(x, n=2000, seed=0):\n"
                                 "    return colleague_train_and_sample(x, n, seed)[0]\n")},
        "fails": {"test_train": "Does your training loss go down?"},
    },
    "train-zero-grad-after-backward": {
        "mistake": "the colleague's first bug left in: opt.zero_grad() between backward() and step(), nothing trains",
        "replace": [("answer_train", "opt.zero_grad()                                  # before backward: "
                     "zeroing after it throws the gradient away\n        loss.backward()",
                     "loss.backward()\n        opt.zero_grad()")],
        "fails": {"test_train": "Does your training loss go down?"},
    },
    "train-not-rescaled": {
        "mistake": "the colleague's second bug left in: samples returned in standardized units",
        "replace": [("answer_train", "return samples * scale + shift", "return samples")],
        "fails": {"test_train": "are your samples in the units of x?"},
    },
    "train-known-ring-scale": {
        "mistake": "standardizes with the lesson's ring's known centre and scale (0 and 1.41) instead of the data's",
        "replace": [("answer_train", "shift, scale = x.mean(0), x.std(0)",
                     "shift, scale = torch.zeros(2), torch.full((2,), 1.41)")],
        "fails": {"test_train": "on another ring"},
        "hidden": "the visible ring is the lesson's; the hidden tests move and scale it, so that an answer "
                  "tuned to the known ring does not pass",
    },
    "train-no-standardization": {
        "mistake": "trains on the raw points: the schedule's unit-variance assumption ignored",
        "replace": [("answer_train", "shift, scale = x.mean(0), x.std(0)", "shift, scale = torch.zeros(2), torch.ones(2)")],
        "fails": {"test_train": "on another ring"},
        "hidden": "the visible ring is centred with a std near 1, where skipping the standardization costs little; "
                  "the hidden rings are moved and scaled",
    },
    "train-resamples-training-points": {
        "mistake": "trains nothing: returns training points drawn at random, with a little noise, as its samples",
        "set": {"answer_train": ("def train_and_sample(x, n=2000, seed=0):\n"
                                 "    g = torch.Generator().manual_seed(seed)\n"
                                 "    pick = x[torch.randint(len(x), (n,), generator=g)]\n"
                                 "    return pick + 1e-3 * x.std(0) * torch.randn(n, 2, generator=g)\n")},
        "fails": {"test_train": "they are copies of x"},
    },
    "lesson-copy": {
        "mistake": "copies lesson 11: its linear schedule, its noise-prediction loss and step, genlearn's trainer",
        "lesson_copy": True,
        "set": {
            "answer_schedule": ("def cosine_schedule(T, s=0.008):\n"
                                "    betas = torch.cat([torch.zeros(1), torch.linspace(1e-4, 0.1, T)])\n"
                                "    return betas, torch.cumprod(1 - betas, 0)\n"),
            "answer_loss": ("def denoising_loss(model, x0, alpha_bar, generator=None):\n"
                            "    T = len(alpha_bar) - 1\n"
                            "    t = torch.randint(1, T + 1, (len(x0),), generator=generator)\n"
                            "    noise = torch.randn(x0.shape, generator=generator)\n"
                            "    ab = alpha_bar[t][:, None]\n"
                            "    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise\n"
                            "    return (noise - model(x_t, t)).square().sum(1).mean()\n"),
            "answer_step": ("def sampling_step(model, x_t, t, betas, alpha_bar, sigmas, generator=None):\n"
                            "    eps = model(x_t, torch.full((len(x_t),), t, dtype=torch.long))\n"
                            "    mean = (x_t - betas[t] / (1 - alpha_bar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()\n"
                            "    if t > 1:\n"
                            "        return mean + sigmas[t] * torch.randn(x_t.shape, generator=generator)\n"
                            "    return mean\n"),
            "answer_train": ("from genlearn.data.toy2d import Toy2D\n"
                             "from genlearn.models.diffusion import Diffusion\n"
                             "from genlearn.train import train_diffusion\n\n"
                             "def train_and_sample(x, n=2000, seed=0):\n"
                             "    torch.manual_seed(seed)\n"
                             "    model = Diffusion(T=100, hidden=(128, 128, 128))\n"
                             "    train_diffusion(model, Toy2D('data', x, torch.zeros(len(x), dtype=torch.long)), steps=300,\n"
                             "                    batch_size=512, lr=2e-3, progress=False)\n"
                             "    return model.sample(n, generator=torch.Generator().manual_seed(seed))\n"),
        },
        "fails": {"test_schedule": "for T = 4", "test_loss": "Your target is the noise eps",
                  "test_step": "You read the output as the noise eps", "test_train": "calls genlearn's own"},
    },
}

ROBUSTNESS = {"answer": "answer_train", "tests": ["test_train"]}
