"""Wrong submissions for ex05_responsible_generation (see README.md)."""

SUBMISSIONS = {
    "accuracy-inverted": {
        "mistake": "counts negative logits as real",
        "replace": [("answer_accuracy",
                     "(detector(x_real).reshape(-1) > 0).sum() + (detector(x_fake).reshape(-1) <= 0).sum()",
                     "(detector(x_real).reshape(-1) <= 0).sum() + (detector(x_fake).reshape(-1) > 0).sum()")],
        "fails": {"test_accuracy": "positive logit = real"},
    },
    "accuracy-mean-of-rates": {
        "mistake": "averages the two per-set accuracies instead of counting over all images",
        "replace": [("answer_accuracy", "return correct.item() / (len(x_real) + len(x_fake))",
                     "return ((detector(x_real).reshape(-1) > 0).float().mean()"
                     " + (detector(x_fake).reshape(-1) <= 0).float().mean()).item() / 2")],
        "fails": {"test_accuracy": "over ALL images"},
    },
    "detector-labels-swapped": {
        "mistake": "trains with real = 0 and generated = 1",
        "replace": [("answer_detector",
                     "y = torch.cat([torch.ones(len(x_real)), torch.zeros(len(x_fake))])",
                     "y = torch.cat([torch.zeros(len(x_real)), torch.ones(len(x_fake))])")],
        "fails": {"test_detector": "the labels are the wrong way round"},
    },
    "detector-raw-pixels": {
        "mistake": "leaves out the standardization, so the DCGAN's near-zero background looks like the real zeros",
        "replace": [("answer_detector", "nn.Sequential(Standardize(torch.cat([x_real, x_fake])), nn.Flatten(),",
                     "nn.Sequential(nn.Flatten(),")],
        "fails": {"test_detector": "are the pixels standardized"},
    },
    "detector-never-steps": {
        "mistake": "computes the loss and gradients but never calls opt.step()",
        "replace": [("answer_detector", "        opt.step()\n", "")],
        "fails": {"test_detector": "That is chance level"},
    },
    "attack-wrong-direction": {
        "mistake": "flags HIGH-loss examples as members",
        "replace": [("answer_membership", "return losses <= threshold", "return losses >= threshold")],
        "fails": {"test_predict_member": "members have LOW loss", "test_advantage": "advantage 1"},
    },
    "advantage-ignores-fpr": {
        "mistake": "maximizes the true-positive rate alone (always 1)",
        "replace": [("answer_membership", "best = max(best, tpr - fpr)", "best = max(best, tpr)")],
        "fails": {"test_advantage": "the advantage is near 0"},
    },
}

ROBUSTNESS = {"answer": "answer_accuracy", "tests": ["test_accuracy"]}
