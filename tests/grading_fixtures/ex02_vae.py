"""Wrong submissions for ex02_vae (see README.md)."""

_KL = "answer_kl"
_LOSS = "answer_vae_loss"
_TRAIN = "answer_train_vae"

SUBMISSIONS = {
    # ------------------------------------------------------------------ the KL between two Gaussians
    "kl-swapped": {
        "mistake": "KL(p ‖ q) instead of KL(q ‖ p): the roles of the two Gaussians swapped",
        "set": {_KL: (
            "def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n"
            "    ratio = torch.exp(logvar_p - logvar_q)\n"
            "    mean_term = (mu_p - mu_q).square() * torch.exp(-logvar_q)\n"
            "    return 0.5 * (logvar_q - logvar_p + ratio + mean_term - 1.0).sum(dim=1)\n")},
        "fails": {"test_kl_values": "KL(p || q)"},
        "also_fails": ["test_train_vae"],  # KL(p || q) with p = N(0, I) lets the code collapse: about 25 nats
    },
    "kl-missing-half": {
        "mistake": "the KL without its factor 1/2",
        "replace": [(_KL, "return 0.5 * (", "return (")],
        "fails": {"test_kl_basics": "forget the factor 1/2"},
        "also_fails": ["test_kl_values", "test_vae_loss", "test_train_vae"],  # a KL weighted 2: about 21.9 nats
    },
    "kl-mean-over-latents": {
        "mistake": "averages the KL over the latent dimensions instead of summing",
        "replace": [(_KL, ".sum(dim=1)", ".mean(dim=1)")],
        "fails": {"test_kl_basics": "the KL sums over them", "test_kl_values": "differs from the reference"},
        "also_fails": ["test_vae_loss", "test_train_vae"],
    },
    "kl-ratio-upside-down": {
        "mistake": "sigma_p^2 / sigma_q^2 where sigma_q^2 / sigma_p^2 belongs",
        "replace": [(_KL, "torch.exp(logvar_q - logvar_p)", "torch.exp(logvar_p - logvar_q)")],
        "fails": {"test_kl_values": "upside down"},
        "also_fails": ["test_train_vae"],  # training diverges
    },
    "kl-log-term-sign": {
        "mistake": "log sigma_q^2 - log sigma_p^2: the log-variance term with the wrong sign",
        "replace": [(_KL, "0.5 * (logvar_p - logvar_q +", "0.5 * (logvar_q - logvar_p +")],
        "fails": {"test_kl_values": "sign of the log-variance term"},
        "also_fails": ["test_train_vae"],  # training diverges
    },
    "kl-means-unscaled": {
        "mistake": "(mu_q - mu_p)^2 not divided by sigma_p^2",
        "replace": [(_KL, "(mu_q - mu_p).square() * torch.exp(-logvar_p)", "(mu_q - mu_p).square()")],
        "fails": {"test_kl_values": "divide it by sigma_p^2"},
    },
    # ------------------------------------------------------------------ the colleague's loss
    "loss-sample-not-rsample": {
        "mistake": "the colleague's first bug left in: z = q.sample(), so no gradient reaches the encoder through z",
        "replace": [(_LOSS, "z = mu + torch.exp(0.5 * logvar) * eps",
                     "z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()")],
        "fails": {"test_vae_loss": "draw the noise of z from `generator`",
                  "test_vae_loss_gradient": "no gradient reaches the encoder through z"},
        "also_fails": ["test_train_vae"],
    },
    "loss-mean-over-pixels": {
        "mistake": "the colleague's second bug left in: the reconstruction term averaged over the pixels",
        "replace": [(_LOSS, 'reduction="none").flatten(1).sum(1)', 'reduction="none").flatten(1).mean(1)')],
        "fails": {"test_vae_loss": "averaged over the 64 pixels",
                  "test_train_vae": "posterior collapse"},
        "also_fails": ["test_vae_loss_gradient"],  # the reconstruction's gradient is 64 times too small
    },
    "loss-plus-kl": {
        "mistake": "-(recon + KL): the KL term with the wrong sign",
        "replace": [(_LOSS, "return (kl - recon).mean()", "return (-kl - recon).mean()")],
        "fails": {"test_vae_loss": "sign of the KL term"},
        "also_fails": ["test_train_vae"],
    },
    "loss-summed-over-batch": {
        "mistake": "sums the loss over the batch instead of averaging",
        "replace": [(_LOSS, "return (kl - recon).mean()", "return (kl - recon).sum()")],
        "fails": {"test_vae_loss": "sum over the batch"},
    },
    "loss-ignores-generator": {
        "mistake": "draws eps with the global random generator, not `generator`: the loss is not reproducible",
        "replace": [(_LOSS, "torch.randn(mu.shape, generator=generator, dtype=mu.dtype)",
                     "torch.randn(mu.shape, dtype=mu.dtype)")],
        "fails": {"test_vae_loss": "draw the noise of z from `generator`"},
    },
    "loss-std-is-exp-logvar": {
        "mistake": "sigma = exp(logvar) instead of exp(logvar / 2)",
        "replace": [(_LOSS, "torch.exp(0.5 * logvar) * eps", "torch.exp(logvar) * eps")],
        "fails": {"test_vae_loss": "That is sigma = exp(logvar)"},
        "also_fails": ["test_train_vae"],  # the encoder half compensates: about 20.9 nats, short of the target
    },
    # ------------------------------------------------------------------ training
    "train-gradient-ascent": {
        "mistake": "maximizes vae_loss (the negative ELBO) instead of minimizing it",
        "replace": [(_TRAIN, "loss = vae_loss(model, xb, gen)", "loss = -vae_loss(model, xb, gen)")],
        "fails": {"test_train_vae": "is that loss the negative ELBO"},
    },
    "train-too-short": {
        "mistake": "30 steps: far from the target",
        "replace": [(_TRAIN, "range(300)", "range(30)")],
        "fails": {"test_train_vae": "not below 20.5"},
    },
    "train-ignores-x": {
        "mistake": "trains on the course's training digits whatever x it is given",
        "replace": [(_TRAIN, "gen = torch.Generator().manual_seed(seed)",
                     "gen = torch.Generator().manual_seed(seed)\n    x = digits(\"train\").x")],
        "fails": {"test_train_vae": "on other data"},
        "hidden": "the visible test trains on the course's digits; the hidden one hands other data (the digits "
                  "transposed), so that an answer that ignores its argument does not pass",
    },
    "lesson-copy": {
        "mistake": "copies the lesson's code: the KL to N(0, I) whatever p is, the library's ELBO for the loss and its "
                   "training loop for train_vae",
        "lesson_copy": True,
        "set": {
            _KL: ("def kl_diag_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n"
                  "    return 0.5 * (mu_q.square() + logvar_q.exp() - 1.0 - logvar_q).sum(dim=1)\n"),
            _LOSS: ("def vae_loss(model, x, generator=None):\n"
                    "    return -model.elbo(x, generator=generator).elbo.mean()\n"),
            _TRAIN: ("from genlearn.train import train_vae as library_train_vae\n\n"
                     "def train_vae(model, x, seed=0):\n"
                     "    model.init_output_bias(x.mean(0))\n"
                     "    history = library_train_vae(model, x, epochs=15, batch_size=64, lr=3e-3, seed=seed, progress=False)\n"
                     "    return [float(v) for v in history['loss']]\n"),
        },
        "fails": {"test_kl_basics": "must be 0 when q = p", "test_kl_values": "KL(N(0, 1) || N(0, 4))", "test_vae_loss": "calls genlearn's own",
                  "test_vae_loss_gradient": "calls genlearn's own", "test_train_vae": "calls genlearn's own"},
    },
}

ROBUSTNESS = {"answer": _TRAIN, "tests": ["test_train_vae"]}
