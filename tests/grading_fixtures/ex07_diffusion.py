"""Wrong submissions for ex07_diffusion (see README.md)."""

SUBMISSIONS = {
    "alpha-bar-summed": {
        "mistake": "alpha_bar_t as 1 - (beta_1 + ... + beta_t), a sum instead of the product of (1 - beta_s)",
        "replace": [("answer_alpha_bars", "return torch.cumprod(1 - betas, dim=0)",
                     "return 1 - torch.cumsum(betas, dim=0)")],
        "fails": {"test_alpha_bars": "take the product of the (1 - beta_s)"},
    },
    "alpha-bar-not-cumulative": {
        "mistake": "alpha_bar_t = alpha_t = 1 - beta_t, one step's factor instead of the cumulative product",
        "replace": [("answer_alpha_bars", "return torch.cumprod(1 - betas, dim=0)", "return 1 - betas")],
        "fails": {"test_alpha_bars": "That is alpha_t = 1 - beta_t"},
    },
    "q-sample-no-sqrt": {
        "mistake": "x_t = alpha_bar_t x_0 + (1 - alpha_bar_t) eps, the square roots left out",
        "replace": [("answer_q_sample", "return ab.sqrt() * x0 + (1 - ab).sqrt() * noise",
                     "return ab * x0 + (1 - ab) * noise")],
        "fails": {"test_q_sample": "You left out the square roots"},
    },
    "q-sample-off-by-one": {
        "mistake": "indexes the schedule with t - 1 (as if entry 0 were step 1)",
        "replace": [("answer_q_sample", "ab = alpha_bar[t][:, None]", "ab = alpha_bar[t - 1][:, None]")],
        "fails": {"test_q_sample": "You used alpha_bar[t - 1]"},
    },
    "q-sample-calls-genlearn": {
        "mistake": "hands q(x_t | x_0) to genlearn's Diffusion.q_sample instead of writing it",
        "set": {"answer_q_sample": ("def q_sample(x0, t, noise, alpha_bar):\n"
                                    "    model = Diffusion(T=len(alpha_bar) - 1)\n"
                                    "    model.alpha_bars = alpha_bar\n"
                                    "    return model.q_sample(x0, t, noise)\n")},
        "fails": {"test_q_sample": "calls genlearn's own genlearn.models.diffusion.Diffusion.q_sample"},
        "also_fails": ["test_loss"],  # the loss uses q_sample
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
    "loss-predicts-x0": {
        "mistake": "regresses the network's output on x_0 instead of on the noise eps",
        "replace": [("answer_loss", "return (noise - eps_model(x_t, t)).square().sum(1).mean()",
                     "return (x0 - eps_model(x_t, t)).square().sum(1).mean()")],
        "fails": {"test_loss": "the network predicts the noise eps that was added"},
    },
    "loss-no-grad": {  # passes the visible test (its network predicts zeros); a hidden test catches it
        "mistake": "computes the loss under torch.no_grad(), so no gradient reaches the network",
        "replace": [("answer_loss", "    return (noise - eps_model(x_t, t)).square().sum(1).mean()",
                     "    with torch.no_grad():\n        return (noise - eps_model(x_t, t)).square().sum(1).mean()")],
        "fails": {"test_loss": "the loss must be differentiable"},
    },
    "sigmas-variance": {
        "mistake": "returns the posterior variance sigma_t^2 instead of the standard deviation sigma_t",
        "replace": [("answer_sigmas", "/ (1 - alpha_bar[1:])).sqrt()", "/ (1 - alpha_bar[1:]))")],
        "fails": {"test_sigmas": "You returned the variance sigma_t^2"},
    },
    "step-alpha-for-alpha-bar": {
        "mistake": "scales the predicted noise by beta_t / sqrt(1 - alpha_t) instead of beta_t / sqrt(1 - alpha_bar_t)",
        "replace": [("answer_step", "betas[t] / (1 - alpha_bar[t]).sqrt() * eps_hat",
                     "betas[t] / betas[t].sqrt() * eps_hat")],
        "fails": {"test_step": "where the formula has sqrt(1 - alpha_bar_t)"},
    },
    "step-adds-noise-prediction": {
        "mistake": "adds the predicted noise instead of removing it (wrong sign)",
        "replace": [("answer_step", "(x_t - betas[t]", "(x_t + betas[t]")],
        "fails": {"test_step": "You added the predicted noise"},
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
        "fails": {"test_step": "on x_t and the step t of every example"},
    },
}

ROBUSTNESS = {"answer": "answer_step", "tests": ["test_step"]}
