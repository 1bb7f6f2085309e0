"""Wrong submissions for ex04_evaluation (see README.md)."""

SUBMISSIONS = {
    "sqrtm-elementwise": {
        "mistake": "element-wise square root instead of the matrix square root",
        "replace": [("answer_sqrtm", "w, v = np.linalg.eigh((a + a.T) / 2)\n    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T",
                     "return np.sqrt(a)")],
        "fails": {"test_sqrtm": "not the element-wise"},
        "also_fails": ["test_frechet"],  # NaN from the square root of negative entries
    },
    "sqrtm-no-clip": {
        "mistake": "no clipping of round-off negative eigenvalues: NaN for rank-deficient matrices",
        "replace": [("answer_sqrtm", "np.sqrt(np.clip(w, 0, None))", "np.sqrt(w)")],
        "fails": {"test_sqrtm": "clip the eigenvalues at 0"},
    },
    "fd-missing-factor-2": {
        "mistake": "tr(S1 + S2 - (S1^1/2 S2 S1^1/2)^1/2): missing factor 2",
        "replace": [("answer_frechet", "- 2 * np.trace(cross)", "- np.trace(cross)")],
        "fails": {"test_frechet": "factor 2 in front of the trace"},
    },
    "fd-unsquared-mean": {
        "mistake": "||mu1 - mu2|| instead of its square",
        "replace": [("answer_frechet", "np.sum((mu1 - mu2) ** 2)", "np.sqrt(np.sum((mu1 - mu2) ** 2))")],
        "fails": {"test_frechet": "SQUARED distance"},
    },
    "pr-swapped": {
        "mistake": "returns (recall, precision)",
        "replace": [("answer_pr", "return precision, recall", "return recall, precision")],
        "fails": {"test_pr": "Precision and recall are swapped"},
    },
    "pr-radius-counts-self": {
        "mistake": "the k-NN radius counts the point itself as a neighbour",
        "replace": [("answer_pr", ".kthvalue(k + 1, dim=1)", ".kthvalue(k, dim=1)")],
        "fails": {"test_pr": "NOT counting the point itself"},
    },
    "memorization-inverted": {
        "mistake": "d_heldout / d_train instead of d_train / d_heldout",
        "replace": [("answer_memorization", "(d_train / d_heldout)", "(d_heldout / d_train)")],
        "fails": {"test_memorization": "Is the ratio inverted?"},
    },
}

ROBUSTNESS = {"answer": "answer_memorization", "tests": ["test_memorization"]}
