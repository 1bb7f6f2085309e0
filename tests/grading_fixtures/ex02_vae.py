"""Wrong submissions for ex02_vae (see README.md)."""

SUBMISSIONS = {
    "std-is-exp-logvar": {
        "mistake": "sigma = exp(logvar) instead of exp(logvar / 2)",
        "replace": [("answer_reparameterize", "torch.exp(0.5 * logvar)", "torch.exp(logvar)")],
        "fails": {"test_reparameterize": "not exp(logvar)"},
    },
    "kl-missing-half": {
        "mistake": "the KL without its factor 1/2",
        "replace": [("answer_kl", "return 0.5 * (", "return (")],
        "fails": {"test_kl_basics": "forget the factor 1/2", "test_kl_values": "1/2 (2 - 1 - log 2)"},
        "also_fails": ["test_elbo"],  # the hidden ELBO test checks recon - the true KL
    },
    "kl-logvar-sign": {
        "mistake": "+ logvar instead of - logvar in the KL",
        "replace": [("answer_kl", "- 1.0 - logvar", "- 1.0 + logvar")],
        "fails": {"test_kl_values": "sign of the log-variance term"},
        "also_fails": ["test_elbo", "test_train_vae"],  # training diverges
    },
    "kl-mean-over-latents": {
        "mistake": "averages the KL over the latent dimensions (wrong reduction)",
        "replace": [("answer_kl", ".sum(dim=1)", ".mean(dim=1)")],
        "fails": {"test_kl_basics": "sum over them instead"},
        "also_fails": ["test_kl_values", "test_elbo", "test_train_vae"],  # too weak a KL: 26 nats
    },
    "recon-mean-over-pixels": {
        "mistake": "averages log p(x|z) over the pixels instead of summing (wrong reduction)",
        "replace": [("answer_elbo", ".flatten(1).sum(1)", ".flatten(1).mean(1)")],
        "fails": {"test_elbo": "You averaged over the pixels"},
        "also_fails": ["test_train_vae"],  # the KL dominates: 25 nats
    },
    "elbo-plus-kl": {
        "mistake": "recon + KL (sign error)",
        "replace": [("answer_elbo", "return recon - kl_diag_gaussian", "return recon + kl_diag_gaussian")],
        "fails": {"test_elbo": "the ELBO subtracts the KL"},
        "also_fails": ["test_train_vae"],
    },
    "gradient-ascent": {
        "mistake": "minimizes the ELBO instead of -ELBO",
        "replace": [("answer_train_vae", "loss = -elbo_bernoulli(", "loss = elbo_bernoulli(")],
        "fails": {"test_train_vae": "minimize -ELBO"},
    },
}

ROBUSTNESS = {"answer": "answer_train_vae", "tests": ["test_train_vae"]}
