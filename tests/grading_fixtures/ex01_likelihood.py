"""Wrong submissions for ex01_likelihood (see README.md)."""

SUBMISSIONS = {
    "uniform-components": {
        "mistake": "components drawn uniformly instead of with the mixture weights",
        "replace": [("answer_sample_mixture",
                     "torch.multinomial(weights, n, replacement=True, generator=generator)",
                     "torch.randint(len(weights), (n,), generator=generator)")],
        "fails": {"test_sample_mixture": "drawn with probabilities `weights`"},
    },
    "std-as-variance": {
        "mistake": "x = c_k + std^2 eps: the variance where the standard deviation belongs",
        "replace": [("answer_sample_mixture", "centers[k] + std * eps", "centers[k] + std**2 * eps")],
        "fails": {"test_sample_mixture": "That is std^2"},
    },
    "one-noise-for-all-coordinates": {
        "mistake": "one eps per sample, shared by its D coordinates: samples lie on a diagonal line",
        "replace": [("answer_sample_mixture", "torch.randn(n, centers.shape[1], generator=generator)",
                     "torch.randn(n, 1, generator=generator)")],
        "fails": {"test_sample_mixture": "coordinates of x - c_k must be independent"},
        "hidden": "the visible test checks each coordinate's spread; only the hidden one checks that the "
                  "coordinates are independent, a property the student should check from the definition",
    },
    "missing-weights": {
        "mistake": "log-sum-exp over the components without log(weights)",
        "replace": [("answer_mixture_log_prob", "torch.log(weights) + log_normal", "log_normal")],
        "fails": {"test_log_prob_mixture": "WITHOUT its weights"},
    },
    "naive-logsumexp": {
        "mistake": "log(sum(exp(...))) instead of log-sum-exp: -inf far from the centres",
        "replace": [("answer_mixture_log_prob",
                     "torch.logsumexp(torch.log(weights) + log_normal, dim=1)",
                     "torch.log((weights * torch.exp(log_normal)).sum(dim=1))")],
        "fails": {"test_log_prob_mixture": "underflows"},
    },
    "one-dimensional-normalizer": {
        "mistake": "the 1D normalizer (missing factor D)",
        "replace": [("answer_mixture_log_prob",
                     "- d * torch.log(std) - 0.5 * d * math.log(2 * math.pi)",
                     "- torch.log(std) - 0.5 * math.log(2 * math.pi)")],
        "fails": {"test_log_prob_gaussian": "the normalizer is -D log(std)",
                  "test_log_prob_mixture": "differ from the reference"},
    },
    "std-for-variance": {
        "mistake": "divides the squared distance by 2 std instead of 2 std^2",
        "replace": [("answer_mixture_log_prob", "-0.5 * sq_dist / std**2", "-0.5 * sq_dist / std")],
        "fails": {"test_log_prob_gaussian": "by 2 std instead of 2 std^2",
                  "test_log_prob_mixture": "under the ring should be about -4994.0"},
        "also_fails": ["test_fit_isotropic_mixture"],  # the density is not normalized: its likelihood means nothing
    },
    "std-gradient-cut": {
        "mistake": "math.log(std) turns a tensor std into a float: the normalizer's gradient is lost and a learned std grows without bound",
        "replace": [("answer_mixture_log_prob", "- d * torch.log(std) -", "- d * math.log(std) -")],
        "fails": {"test_log_prob_mixture": "cut the gradient",
                  "test_fit_isotropic_mixture": "is std learned at all"},
    },
    "unbiased-variance": {
        "mistake": "divides by n - 1 (unbiased) instead of n (maximum likelihood)",
        "replace": [("answer_fit_gaussian", "var = (x - mean).square().mean()",
                     "var = (x - mean).square().sum() / ((len(x) - 1) * x.shape[1])")],
        "fails": {"test_fit_gaussian": "maximum likelihood divides by n"},
    },
    "summed-coordinates": {
        "mistake": "sums the squared deviations over the coordinates (missing 1/D)",
        "replace": [("answer_fit_gaussian", "var = (x - mean).square().mean()",
                     "var = (x - mean).square().sum(1).mean()")],
        "fails": {"test_fit_gaussian": "average over them"},
    },
    "fit-keeps-item": {
        "mistake": "the colleague's first bug left in: std = log_std.exp().item(), so std is never learned",
        "replace": [("answer_fit_isotropic_mixture",
                     "mixture_log_prob(x, torch.softmax(logits, 0), centers, log_std.exp())",
                     "mixture_log_prob(x, torch.softmax(logits, 0), centers, log_std.exp().item())")],
        "fails": {"test_fit_isotropic_mixture": "is std learned at all"},
    },
    "fit-random-init": {
        "mistake": "the colleague's fit with the gradient repaired, centres still started at random data points: a local optimum",
        "set": {"answer_fit_isotropic_mixture": (
            "def fit_isotropic_mixture(x, k=8, seed=0):\n"
            "    g = torch.Generator().manual_seed(seed)\n"
            "    centers = x[torch.randperm(len(x), generator=g)[:k]].clone().requires_grad_(True)\n"
            "    logits = torch.zeros(k, requires_grad=True)\n"
            "    log_std = torch.zeros((), requires_grad=True)\n"
            "    opt = torch.optim.Adam([centers, logits, log_std], lr=0.05)\n"
            "    for _ in range(300):\n"
            "        loss = -mixture_log_prob(x, torch.softmax(logits, 0), centers, log_std.exp()).mean()\n"
            "        opt.zero_grad()\n"
            "        loss.backward()\n"
            "        opt.step()\n"
            "    return torch.softmax(logits, 0).detach(), centers.detach(), log_std.exp().item()\n")},
        "fails": {"test_fit_isotropic_mixture": "stuck in a local optimum"},
    },
    "fit-known-centres": {
        "mistake": "starts the centres at the ring's known centres (ring_centers(8, 2.0)) instead of from the data",
        "replace": [("answer_fit_isotropic_mixture", "centers = x[chosen].clone().requires_grad_(True)",
                     "centers = ring_centers(8, 2.0).clone().requires_grad_(True)")],
        "fails": {"test_fit_isotropic_mixture": "on another ring"},
        "hidden": "the visible ring is the lesson's; the hidden tests move and scale it, so that an answer "
                  "tuned to the known centres does not pass",
    },
    "lesson-copy": {
        "mistake": "copies the lesson's code: the full-covariance Gaussian (numpy) for fit_gaussian, the lesson's "
                   "scikit-learn mixture for fit_isotropic_mixture, nothing for the rest",
        "lesson_copy": True,
        "stub": ["answer_sample_mixture", "answer_mixture_log_prob"],
        "set": {
            "answer_fit_gaussian": (
                "import numpy as np\n\n"
                "def fit_gaussian(x):\n"
                "    x = x.numpy()\n"
                "    mu, Sigma = x.mean(0), np.cov(x.T, bias=True)    # the maximum-likelihood Gaussian\n"
                "    return torch.tensor(mu), float(np.sqrt(np.trace(Sigma) / x.shape[1]))\n"),
            "answer_fit_isotropic_mixture": (
                "from genlearn.widgets.basic import fit_mixture as lesson_fit\n\n"
                "def fit_isotropic_mixture(x, k=8, seed=0):\n"
                "    gmm = lesson_fit(x.numpy(), n_components=k)\n"
                "    std = float(np.sqrt(np.mean([np.trace(c) / 2 for c in gmm.covariances_])))\n"
                "    return torch.tensor(gmm.weights_).float(), torch.tensor(gmm.means_).float(), std\n"),
        },
        "fails": {"test_sample_mixture": "NotImplementedError", "test_log_prob_gaussian": "NotImplementedError",
                  "test_log_prob_mixture": "NotImplementedError"},
    },
}

ROBUSTNESS = {"answer": "answer_sample_mixture", "tests": ["test_sample_mixture"]}
