"""Wrong submissions for ex06_wasserstein (see README.md)."""

EPS = "torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)"
PENALTY = "\n               + gp_weight * gradient_penalty(critic, real, fake, generator))"
FIT_LOSS = "loss = critic(yb).mean() - critic(xb).mean() + 30 * gradient_penalty(critic, xb, yb, g)"

SUBMISSIONS = {
    # ------------------------------------------------------------------ the one-sided penalty
    "gp-two-sided": {
        "mistake": "the lesson's two-sided penalty (norm - 1)^2: slopes below 1 are penalized too",
        "replace": [("answer_gp", "return (norms - 1).clamp(min=0).square().mean()", "return (norms - 1).square().mean()")],
        # fit_critic with the two-sided penalty also misses the distance between the moons and the ring: slopes
        # forced up to 1 between shapes where the best critic is flat
        "fails": {"test_gp_values": "the lesson's two-sided penalty", "test_gp_per_sample": "(not penalized)",
                  "test_fit_critic": "on the moons against the ring"},
    },
    "gp-eps-b1-for-every-shape": {
        "mistake": "eps drawn as (B, 1) whatever the batch's shape: fine for points, wrong for images and sequences",
        "replace": [("answer_gp", EPS, "torch.rand(real.shape[0], 1, generator=generator)")],
        "fails": {"test_gp_per_sample": "eps must broadcast against a batch of any shape"},
    },
    "gp-one-eps-per-batch": {
        "mistake": "one eps for the whole batch",
        "replace": [("answer_gp", EPS, "torch.rand((1,) * real.dim(), generator=generator)")],
        "fails": {"test_gp_per_sample": "one eps for the whole batch"},
    },
    "gp-eps-per-coordinate": {
        "mistake": "one eps per coordinate: x_hat leaves the segment between real[i] and fake[i]",
        "replace": [("answer_gp", EPS, "torch.rand(real.shape, generator=generator)")],
        "fails": {"test_gp_per_sample": "one eps per coordinate"},
    },
    "gp-no-create-graph": {
        "mistake": "the inner gradient is taken without create_graph: the penalty never trains the critic",
        "replace": [("answer_gp", "x_hat, create_graph=True)", "x_hat)")],
        "fails": {"test_gp_values": "create_graph", "test_fit_critic": "not close to 1-Lipschitz"},
    },
    "gp-mean-of-scores": {
        "mistake": "differentiates the MEAN of the scores (the colleague's bug): each sample's gradient shrunk by B",
        "replace": [("answer_gp", "torch.autograd.grad(critic(x_hat).sum(),", "torch.autograd.grad(critic(x_hat).mean(),")],
        "fails": {"test_gp_values": "is each sample's gradient its own", "test_fit_critic": "not close to 1-Lipschitz"},
        "also_fails": ["test_gp_per_sample"],
    },
    "gp-squared-norm": {
        "mistake": "penalizes the squared gradient norm instead of max(0, norm - 1)^2",
        "replace": [("answer_gp", "return (norms - 1).clamp(min=0).square().mean()", "return norms.square().mean()")],
        "fails": {"test_gp_values": "You penalized ||grad||^2", "test_fit_critic": "what does your penalty charge for"},
        "also_fails": ["test_gp_per_sample"],
    },
    "gp-batch-norm": {
        "mistake": "one gradient norm over the whole batch instead of one per sample",
        "replace": [("answer_gp", "norms = grad.flatten(1).norm(dim=1)", "norms = grad.norm()")],
        "fails": {"test_gp_values": "one norm over the whole batch", "test_fit_critic": "much flatter than 1-Lipschitz"},
        "also_fails": ["test_gp_per_sample", "test_train_step"],  # its penalty blows the steep test critic up
    },
    # ------------------------------------------------------------------ the training step
    "step-no-penalty": {
        "mistake": "the critic's update leaves out the penalty",
        "replace": [("answer_train_step", PENALTY, ")")],
        "fails": {"test_train_step": "updated without the penalty"},
    },
    "step-critic-sign": {
        "mistake": "the critic minimizes E d(real) - E d(fake) (+ penalty): the distance estimate's sign",
        "replace": [("answer_train_step", "(critic(fake.detach()).mean() - critic(real).mean()",
                     "(critic(real).mean() - critic(fake.detach()).mean()")],
        "fails": {"test_train_step": "with the sign of the distance estimate"},
    },
    "step-reuses-first-batch": {
        "mistake": "every critic update on the first real batch",
        "replace": [("answer_train_step", "for real in real_batches:", "for _ in real_batches:\n        real = real_batches[0]")],
        "fails": {"test_train_step": "on the first real batch every time"},
    },
    "step-no-zero-grad": {
        "mistake": "the critic's gradients are never cleared: each update adds the earlier ones",
        "replace": [("answer_train_step", "        opt_c.zero_grad()\n", "")],
        "fails": {"test_train_step": "gradients of earlier backward passes"},
    },
    "step-one-critic-update": {
        "mistake": "one critic update per generator update, whatever n_critic",
        "replace": [("answer_train_step", "for real in real_batches:", "for real in real_batches[:1]:")],
        "fails": {"test_train_step": "n_critic = 2 critic updates"},
    },
    "step-returns-first-loss": {
        "mistake": "returns the first critic update's loss instead of the last",
        "replace": [("answer_train_step", "        opt_c.step()\n", "        opt_c.step()\n        losses = locals().get('losses', []) + [c_l.item()]\n"),
                    ("answer_train_step", "\"critic_loss\": c_l.item()", "\"critic_loss\": losses[0]")],
        "fails": {"test_train_step": "That is the FIRST critic update's loss"},
    },
    "step-g-loss-sign": {
        "mistake": "the generator minimizes +E d(G(z)), pushing its samples where the critic scores them fake",
        "replace": [("answer_train_step", "g_l = -critic(fake).mean()", "g_l = critic(fake).mean()")],
        "fails": {"test_train_step": "That is +E d(G(z))"},
    },
    "step-weight-hard-coded": {
        "mistake": "the penalty weight hard-coded to 10 instead of gp_weight",
        "replace": [("answer_train_step", "+ gp_weight * gradient_penalty", "+ 10.0 * gradient_penalty")],
        "fails": {"test_train_step": "is gp_weight used"},
        "hidden": "the visible test uses the default weight 10; only the hidden one passes another",
    },
    # ------------------------------------------------------------------ the colleague's critic
    "fit-sigmoid-left": {
        "mistake": "the colleague's sigmoid kept on the critic's output: scores in (0, 1), estimates capped at 1",
        "replace": [("answer_fit_critic", "nn.ReLU(), nn.Linear(64, 1))", "nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())")],
        "fails": {"test_fit_critic": "can the critic's output grow beyond that"},
    },
    "fit-mean-in-penalty": {
        "mistake": "the colleague's penalty kept (gradient of the mean of the scores): the critic B times too steep",
        "replace": [("answer_fit_critic", FIT_LOSS,
                     "eps = torch.rand(256, 1, generator=g)\n"
                     "        x_hat = (eps * xb + (1 - eps) * yb).requires_grad_(True)\n"
                     "        (grad,) = torch.autograd.grad(critic(x_hat).mean(), x_hat, create_graph=True)\n"
                     "        penalty = (grad.norm(dim=1) - 1).clamp(min=0).square().mean()\n"
                     "        loss = critic(yb).mean() - critic(xb).mean() + 30 * penalty")],
        "fails": {"test_fit_critic": "not close to 1-Lipschitz"},
    },
    "fit-no-penalty": {
        "mistake": "the critic trained without the penalty: its score difference grows without bound",
        "replace": [("answer_fit_critic", FIT_LOSS, "loss = critic(yb).mean() - critic(xb).mean()")],
        "fails": {"test_fit_critic": "not close to 1-Lipschitz"},
    },
    "fit-known-direction": {
        "mistake": "a critic built for the visible pair: d(x) = -x_1, exact for rings shifted along x_1 and nothing else",
        "set": {"answer_fit_critic": (
            "def fit_critic(x, y, seed=0):\n"
            "    critic = nn.Sequential(nn.Linear(2, 1))\n"
            "    with torch.no_grad():\n"
            "        critic[0].weight.copy_(torch.tensor([[-1.0, 0.0]]))\n"
            "        critic[0].bias.zero_()\n"
            "    return critic\n")},
        "fails": {"test_fit_critic": "on the moons against the ring"},
        "hidden": "the visible pair is the colleague's two rings; the hidden test compares other shapes, not shifted "
                  "along x_1, so that a critic built for the visible pair does not pass",
    },
    "lesson-copy": {
        "mistake": "copies genlearn's gradient_penalty (the lesson's two-sided WGAN-GP penalty); nothing for the rest",
        "lesson_copy": True,
        "set": {"answer_gp": (
            "def gradient_penalty(critic, real, fake, generator=None):\n"
            "    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)\n"
            "    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)\n"
            "    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)\n"
            "    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)\n"
            "    return (grad.flatten(1).norm(2, dim=1) - 1.0).square().mean()\n")},
        "stub": ["answer_train_step", "answer_fit_critic"],
        "fails": {"test_gp_values": "the lesson's two-sided penalty", "test_gp_per_sample": "(not penalized)",
                  "test_train_step": "NotImplementedError", "test_fit_critic": "NotImplementedError"},
    },
}

ROBUSTNESS = {"answer": "answer_train_step", "tests": ["test_train_step"]}
