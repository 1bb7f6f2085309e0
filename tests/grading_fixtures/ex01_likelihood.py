"""Wrong submissions for ex01_likelihood (see README.md)."""

SUBMISSIONS = {
    "uniform-components": {
        "mistake": "components drawn uniformly instead of with the mixture weights",
        "replace": [("answer_sample_mixture",
                     "torch.multinomial(weights, n, replacement=True, generator=generator)",
                     "torch.randint(len(weights), (n,), generator=generator)")],
        "fails": {"test_sample_mixture": "draw k with probabilities `weights`"},
    },
    "missing-weights": {
        "mistake": "log-sum-exp over the components without log(weights)",
        "replace": [("answer_mixture_log_prob", "torch.log(weights) + log_normal", "log_normal")],
        "fails": {"test_log_prob_mixture": "WITHOUT its weights"},
    },
    "naive-logsumexp": {
        "mistake": "log(sum(exp(...))) instead of logsumexp: -inf far from the centres",
        "replace": [("answer_mixture_log_prob",
                     "torch.logsumexp(torch.log(weights) + log_normal, dim=1)",
                     "torch.log((weights * torch.exp(log_normal)).sum(dim=1))")],
        "fails": {"test_log_prob_mixture": "underflows"},
    },
    "one-dimensional-normalizer": {
        "mistake": "the 1D normalizer (missing factor D)",
        "replace": [("answer_mixture_log_prob",
                     "- d * math.log(std) - 0.5 * d * math.log(2 * math.pi)",
                     "- math.log(std) - 0.5 * math.log(2 * math.pi)")],
        "fails": {"test_log_prob_gaussian": "the normalizer is -D log(std)",
                  "test_log_prob_mixture": "differ from the reference"},
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
}

ROBUSTNESS = {"answer": "answer_sample_mixture", "tests": ["test_sample_mixture"]}
