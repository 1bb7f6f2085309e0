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
    "accuracy-zero-is-real": {
        "mistake": "counts a logit of exactly 0 as real (>= 0 instead of > 0)",
        "replace": [("answer_accuracy",
                     "(detector(x_real).reshape(-1) > 0).sum() + (detector(x_fake).reshape(-1) <= 0).sum()",
                     "(detector(x_real).reshape(-1) >= 0).sum() + (detector(x_fake).reshape(-1) < 0).sum()")],
        "fails": {"test_accuracy": "a logit of exactly 0 is not positive"},
    },
    "detector-colleague-leak": {
        "mistake": "the colleague's rescaling kept: the training fakes alone moved to [-1, 1], a leaked label",
        "replace": [("answer_detector", "    x = torch.cat([x_real, x_fake])\n",
                     "    x_fake = 2 * x_fake - 1\n    x = torch.cat([x_real, x_fake])\n")],
        "fails": {"test_detector": "it learned something only its training fakes had"},
    },
    "detector-labels-swapped": {
        "mistake": "trains with real = 0 and generated = 1",
        "replace": [("answer_detector",
                     "y = torch.cat([torch.ones(len(x_real)), torch.zeros(len(x_fake))])",
                     "y = torch.cat([torch.zeros(len(x_real)), torch.ones(len(x_fake))])")],
        "fails": {"test_detector": "the labels are the wrong way round"},
    },
    "detector-raw-pixels": {
        "mistake": "leaves out the standardization (the colleague's second problem): the DCGAN's near-zero background stays invisible",
        "replace": [("answer_detector", "nn.Sequential(Standardize(torch.cat([x_real, x_fake])), nn.Flatten(),",
                     "nn.Sequential(nn.Flatten(),")],
        "fails": {"test_detector": "differences of 0.001"},
    },
    "detector-never-steps": {
        "mistake": "computes the loss and gradients but never calls opt.step()",
        "replace": [("answer_detector", "        opt.step()\n", "")],
        "fails": {"test_detector": "even on its training images"},
    },
    "attack-wrong-direction": {
        "mistake": "flags HIGH-loss examples as members",
        "replace": [("answer_membership", "return losses <= threshold", "return losses >= threshold")],
        "fails": {"test_predict_member": "members have LOW loss", "test_advantage": "advantage 1"},
    },
    "advantage-ignores-fpr": {
        "mistake": "maximizes the true-positive rate alone (always 1)",
        "replace": [("answer_membership", "best = max(best, tpr - fpr)", "best = max(best, tpr)")],
        "fails": {"test_advantage": "the true-positive rate alone"},
    },
    "lesson-copy": {
        "mistake": "copies the lesson's code: genlearn.ethics' train_detector and membership_attack; nothing for the rest",
        "lesson_copy": True,
        "stub": ["answer_accuracy"],
        "set": {
            "answer_detector": (
                "from genlearn.ethics import train_detector as lesson_detector\n\n"
                "def train_detector(x_real, x_fake, steps=100, seed=0):\n"
                "    d = lesson_detector(x_real, x_fake, seed=seed)\n"
                "    return nn.Sequential(nn.Flatten(), d.net, nn.Flatten(0))\n"),
            "answer_membership": (
                "from genlearn.ethics import membership_attack\n\n"
                "def predict_member(losses, threshold):\n"
                "    raise NotImplementedError()\n\n\n"
                "def membership_advantage(member_losses, nonmember_losses):\n"
                "    return 2 * membership_attack(member_losses, nonmember_losses)['accuracy'] - 1\n"),
        },
        "fails": {"test_accuracy": "NotImplementedError", "test_detector": "calls genlearn's own",
                  "test_predict_member": "NotImplementedError", "test_advantage": "calls genlearn's own"},
    },
}

ROBUSTNESS = {"answer": "answer_accuracy", "tests": ["test_accuracy"]}
