"""Wrong submissions for ex04_evaluation (see README.md)."""

_PR_COLLEAGUE = (
    "def knn_precision_recall(real, fake, k=3):\n"
    "    def radii(x):\n"
    "        return torch.cdist(x, x).topk(k, dim=1, largest=False).values[:, -1]\n"
    "    r_real = radii(real)\n"
    "    d = torch.cdist(fake, real)\n"
    "    precision = (d <= r_real[None, :]).any(dim=1).float().mean().item()\n"
    "    recall = (d.T <= r_real[:, None]).any(dim=1).float().mean().item()\n"
    "    return precision, recall\n")


def _rank(score: str) -> str:
    """A rank_generators that sorts by `score` (an expression in p, r: precision and recall)."""
    return (
        "def rank_generators(train, heldout, samples):\n"
        "    def score(name):\n"
        "        if memorization_ratio(samples[name], train, heldout) < 0.3:\n"
        "            return -1.0\n"
        "        p, r = knn_precision_recall(heldout, samples[name], k=3)\n"
        f"        return {score}\n"
        "    return sorted(samples, key=score, reverse=True)\n")


SUBMISSIONS = {
    "fd-unbiased-std": {
        "mistake": "standard deviations that divide by n - 1 instead of n (maximum likelihood)",
        "replace": [("answer_frechet", "(x.std(dim=0, unbiased=False) - y.std(dim=0, unbiased=False))",
                     "(x.std(dim=0) - y.std(dim=0))")],
        "fails": {"test_frechet": "divide by n - 1"},
    },
    "fd-variances": {
        "mistake": "compares the variances instead of the standard deviations: (s1^2 - s2^2)^2",
        "replace": [("answer_frechet", "(x.std(dim=0, unbiased=False) - y.std(dim=0, unbiased=False))",
                     "(x.var(dim=0, unbiased=False) - y.var(dim=0, unbiased=False))")],
        "fails": {"test_frechet": "you compared the variances"},
    },
    "fd-unsquared-mean": {
        "mistake": "the distance between the means where its square belongs",
        "replace": [("answer_frechet", "mean_term = (x.mean(dim=0) - y.mean(dim=0)).square().sum()",
                     "mean_term = (x.mean(dim=0) - y.mean(dim=0)).square().sum().sqrt()")],
        "fails": {"test_frechet": "SQUARED distance between the means"},
    },
    "fd-not-squared": {
        "mistake": "returns d instead of d^2",
        "replace": [("answer_frechet", "return float(mean_term + std_term)",
                     "return float((mean_term + std_term).sqrt())")],
        "fails": {"test_frechet": "return the squared distance"},
    },
    "pr-colleague": {
        "mistake": "the colleague's function unchanged: the radius counts the point itself, recall uses the real radii",
        "set": {"answer_pr": _PR_COLLEAGUE},
        "fails": {"test_pr": "both of its bugs"},
    },
    "pr-radius-counts-self": {
        "mistake": "the colleague's first bug left in: the k-NN radius counts the point itself as a neighbour",
        "replace": [("answer_pr", ".kthvalue(k + 1, dim=1)", ".kthvalue(k, dim=1)")],
        "fails": {"test_pr": "counted the point itself"},
    },
    "pr-recall-real-radii": {
        "mistake": "the colleague's second bug left in: recall uses the real points' radii, not the generated ones'",
        "replace": [("answer_pr", "(d.T <= r_fake[None, :])", "(d.T <= r_real[:, None])")],
        "fails": {"test_pr": "Recall used the REAL points"},
    },
    "pr-swapped": {
        "mistake": "returns (recall, precision)",
        "replace": [("answer_pr", "return precision, recall", "return recall, precision")],
        "fails": {"test_pr": "Precision and recall are swapped"},
    },
    "memorization-inverted": {
        "mistake": "d_heldout / d_train instead of d_train / d_heldout",
        "replace": [("answer_memorization", "(d_train / d_heldout)", "(d_heldout / d_train)")],
        "fails": {"test_memorization": "Is the ratio inverted?"},
        "also_fails": ["test_rank"],  # copies get a huge ratio: never ranked last
    },
    "memorization-mean": {
        "mistake": "the mean of the ratios where the median is asked: a generator that copies most of the time passes",
        "replace": [("answer_memorization", ".median().item()", ".mean().item()")],
        "fails": {"test_memorization": "The MEDIAN, not the mean"},
    },
    "memorization-wrong-axis": {
        "mistake": "the minimum over the generated samples (dim=0): one value per reference point, not per sample",
        "replace": [("answer_memorization", ".min(dim=1)", ".min(dim=0)")],
        "fails": {"test_memorization": "should be near 0"},
    },
    "memorization-float32-cdist": {
        "mistake": "torch.cdist in float32 with its matrix-product shortcut: copies' tiny distances come out 0 or NaN",
        "set": {"answer_memorization": (
            "def memorization_ratio(generated, train, heldout):\n"
            "    g, tr, ho = generated.flatten(1), train.flatten(1), heldout.flatten(1)\n"
            "    d_train = torch.cdist(g, tr).min(dim=1).values\n"
            "    d_heldout = torch.cdist(g, ho).min(dim=1).values\n"
            "    return (d_train / d_heldout).median().item()\n")},
        "fails": {"test_rank": "should come last"},
    },
    "rank-no-copy-check": {
        "mistake": "ranks by min(precision, recall) alone: the copier, whose samples are real points, is not put last",
        "set": {"answer_rank": (
            "def rank_generators(train, heldout, samples):\n"
            "    return sorted(samples, key=lambda n: min(knn_precision_recall(heldout, samples[n], k=3)), reverse=True)\n")},
        "fails": {"test_rank": "should come last"},
    },
    "rank-by-precision": {
        "mistake": "ranks the non-copiers by precision alone: the mode dropper looks as good as the good generator",
        "set": {"answer_rank": _rank("p")},
        "fails": {"test_rank": "Rank by the WEAKER of the two"},
    },
    "rank-by-recall": {
        "mistake": "ranks the non-copiers by recall alone: the blurry generator comes first",
        "set": {"answer_rank": _rank("r")},
        "fails": {"test_rank": "Rank by the WEAKER of the two"},
    },
    "rank-absolute-copy-threshold": {
        "mistake": "calls a generator a copier when its samples' median distance to the training set is below 0.003, "
                   "a threshold read off the visible ring",
        "set": {"answer_rank": (
            "def rank_generators(train, heldout, samples):\n"
            "    def score(name):\n"
            "        s = samples[name].double()\n"
            "        d = torch.cdist(s, train.double(), compute_mode='donot_use_mm_for_euclid_dist').min(dim=1).values\n"
            "        if d.median() < 0.003:\n"
            "            return -1.0\n"
            "        return min(knn_precision_recall(heldout, samples[name], k=3))\n"
            "    return sorted(samples, key=score, reverse=True)\n")},
        "fails": {"test_rank": "should come last"},
        "hidden": "the visible test ranks generators on the lesson's scale; the hidden tests change the scale, so that a "
                  "threshold in absolute distance (instead of the scale-free training-vs-held-out ratio) does not pass",
    },
    "lesson-copy": {
        "mistake": "copies lesson 08: the full-covariance Fréchet distance, genlearn's precision_recall and "
                   "memorization_report, a ranking by the Fréchet distance",
        "lesson_copy": True,
        "set": {
            "answer_frechet": (
                "def frechet_distance_diag(x, y):\n"
                "    x, y = x.double().numpy(), y.double().numpy()\n"
                "    mu1, mu2 = x.mean(0), y.mean(0)\n"
                "    c1, c2 = np.atleast_2d(np.cov(x, rowvar=False, bias=True)), np.atleast_2d(np.cov(y, rowvar=False, bias=True))\n"
                "    def sqrtm(a):\n"
                "        w, v = np.linalg.eigh((a + a.T) / 2)\n"
                "        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T\n"
                "    s1 = sqrtm(c1)\n"
                "    d2 = ((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(sqrtm(s1 @ c2 @ s1))\n"
                "    return max(float(d2), 0.0)\n"),
            "answer_pr": (
                "from genlearn.metrics import precision_recall\n\n"
                "def knn_precision_recall(real, fake, k=3):\n"
                "    pr = precision_recall(real, fake, k=k)\n"
                "    return float(pr['precision']), float(pr['recall'])\n"),
            "answer_memorization": (
                "from genlearn.ethics import memorization_report\n\n"
                "def memorization_ratio(generated, train, heldout):\n"
                "    report = memorization_report(generated, train, heldout)\n"
                "    return (report['d_train'] / report['d_test'].clamp_min(1e-9)).median().item()\n"),
            "answer_rank": (
                "def rank_generators(train, heldout, samples):\n"
                "    return sorted(samples, key=lambda n: frechet_distance_diag(samples[n], heldout))\n"),
        },
        "fails": {"test_frechet": "full covariance", "test_pr": "genlearn", "test_memorization": "genlearn",
                  "test_rank": "your ranking is"},
    },
}

ROBUSTNESS = {"answer": "answer_frechet", "tests": ["test_frechet"]}
