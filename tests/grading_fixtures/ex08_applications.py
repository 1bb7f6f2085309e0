"""Wrong submissions for ex08_applications (see README.md)."""

_PIXEL_MLP = (
    "def train_detector(x, y, seed=0):\n"
    "    torch.manual_seed(seed)\n"
    "    net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 64), nn.ReLU(), nn.Linear(64, 1))\n"
    "    opt = torch.optim.Adam(net.parameters(), lr=1e-3)\n"
    "    g = torch.Generator().manual_seed(seed)\n"
    "    for _ in range(400):\n"
    "        i = torch.randint(len(x), (128,), generator=g)\n"
    "        loss = F.binary_cross_entropy_with_logits(net(x[i]).squeeze(1), y[i].float())\n"
    "        opt.zero_grad()\n"
    "        loss.backward()\n"
    "        opt.step()\n"
    "    return net\n")

SUBMISSIONS = {
    "auc-ties-ignored": {
        "mistake": "AUC without the half for ties: P(s+ > s-) only",
        "replace": [("answer_auc", "float(higher + 0.5 * ties)", "float(higher)")],
        "fails": {"test_auc": "counted the tie (0.4 against 0.4) as 0"},
    },
    "auc-ties-as-wins": {
        "mistake": "AUC as P(s+ >= s-): a tie counted as a win",
        "replace": [("answer_auc", "(pos[:, None] > neg[None, :])", "(pos[:, None] >= neg[None, :])"),
                    ("answer_auc", "float(higher + 0.5 * ties)", "float(higher)")],
        "fails": {"test_auc": "as a win"},
    },
    "auc-wrong-direction": {
        "mistake": "the membership attack's direction (the positive scores lower): 1 - AUC",
        "replace": [("answer_auc", "pos, neg = scores[y], scores[~y]", "pos, neg = scores[~y], scores[y]")],
        "fails": {"test_auc": "That is 1 - AUC"},
        "also_fails": ["test_evaluate_on_real"],  # the report's AUC is the wrong way round
    },
    "auc-argsort-ranks": {
        "mistake": "Mann-Whitney from argsort ranks: ties broken by position instead of counted half",
        "set": {"answer_auc": (
            "def auc(scores, y):\n"
            "    scores, y = scores.flatten(), y.flatten().bool()\n"
            "    ranks = scores.argsort(stable=True).argsort().double() + 1\n"
            "    n1, n0 = int(y.sum()), int((~y).sum())\n"
            "    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))\n")},
        "fails": {"test_auc": "a tie counts half"},
    },
    "detector-pixel-mlp": {
        "mistake": "the lesson's MLP on the raw pixels with a hand-written loop: AUC about 0.77 on real scans",
        "set": {"answer_train_detector": _PIXEL_MLP},
        "fails": {"test_tstr_target": "below the target 0.82"},
    },
    "detector-bright-spot-rule": {
        "mistake": "a hand-written bright-spot rule instead of a detector trained on the synthetic scans",
        "set": {"answer_train_detector": (
            "class BrightSpot(nn.Module):\n"
            "    def forward(self, x):\n"
            "        return x[:, 0, 9:23, 11:21].flatten(1).amax(1) - 0.55\n\n"
            "def train_detector(x, y, seed=0):\n"
            "    return BrightSpot()\n")},
        "fails": {"test_detector_learns": "SHUFFLED labels"},
    },
    "detector-trained-on-real": {
        "mistake": "trains on real phantoms (the VAE's training scans) instead of the synthetic scans it is given",
        "replace": [("answer_train_detector", "    g = torch.Generator().manual_seed(seed)\n",
                     "    g = torch.Generator().manual_seed(seed)\n    scans = phantoms(2000, seed=0)\n"
                     "    x, y = scans.x, scans.y\n")],
        "fails": {"test_detector_learns": "SHUFFLED labels"},
    },
    "evaluate-harmonized": {
        "mistake": "keeps the colleague's harmonization vae.reconstruct(x, y): the true label reaches the detector's input",
        "replace": [("answer_evaluate_on_real", "logits = detector(x).reshape(len(x))",
                     "logits = detector(vae.reconstruct(x, y)).reshape(len(x))")],
        "fails": {"test_evaluate_on_real": "the labels reach what the detector sees"},
    },
    "evaluate-swapped": {
        "mistake": "sensitivity and specificity swapped",
        "replace": [("answer_evaluate_on_real", '"sensitivity": (logits[lesion] > 0)', '"specificity": (logits[lesion] > 0)'),
                    ("answer_evaluate_on_real", '"specificity": (logits[~lesion] <= 0)', '"sensitivity": (logits[~lesion] <= 0)')],
        "fails": {"test_evaluate_on_real": "are swapped"},
    },
    "evaluate-logit-as-probability": {
        "mistake": "flags logit > 0.5, as if the logit were a probability",
        "replace": [("answer_evaluate_on_real", "(logits[lesion] > 0)", "(logits[lesion] > 0.5)"),
                    ("answer_evaluate_on_real", "(logits[~lesion] <= 0)", "(logits[~lesion] <= 0.5)")],
        "fails": {"test_evaluate_on_real": "A logit is not a probability"},
    },
    "evaluate-squeeze": {
        "mistake": "assumes logits of shape (B, 1): squeeze(1) fails on a detector that returns (B,)",
        "replace": [("answer_evaluate_on_real", "logits = detector(x).reshape(len(x))", "logits = detector(x).squeeze(1)")],
        "fails": {"test_evaluate_on_real": "Dimension out of range"},
    },
    "evaluate-broadcast": {
        "mistake": "compares (B, 1) logits with (B,) labels: a (B, B) table, wrong rates",
        "replace": [("answer_evaluate_on_real", "logits = detector(x).reshape(len(x))", "logits = detector(x)"),
                    ("answer_evaluate_on_real", '"sensitivity": (logits[lesion] > 0).float().mean().item()',
                     '"sensitivity": (((logits > 0) & lesion).float().sum() / lesion.sum()).item()')],
        "fails": {"test_evaluate_on_real": "of shape (B, 1)"},
    },
    "lesson-copy": {
        "mistake": "copies the lesson's code: membership_attack's AUC, lesson_detector with train_classifier, "
                   "the lesson's accuracy as the report",
        "lesson_copy": True,
        "set": {
            "answer_auc": (
                "from genlearn.ethics import membership_attack\n\n"
                "def auc(scores, y):\n"
                "    return membership_attack(scores[y == 0], scores[y == 1])['auc']\n"),
            "answer_train_detector": (
                "from genlearn.models.blocks import mlp\n"
                "from genlearn.train import train_classifier\n\n"
                "def train_detector(x, y, seed=0):   # the lesson's lesion_detector\n"
                "    torch.manual_seed(seed)\n"
                "    net = mlp([32 * 32, 64, 1])\n"
                "    x, y = x.flatten(1), y.float()\n"
                "    train_classifier(net, len(x), lambda i: F.binary_cross_entropy_with_logits(net(x[i]).squeeze(1), y[i]),\n"
                "                     steps=400, batch_size=128, lr=1e-3, generator=torch.Generator().manual_seed(seed))\n"
                "    return nn.Sequential(nn.Flatten(), net)\n"),
            "answer_evaluate_on_real": (
                "def evaluate_on_real(detector, x, y):   # the lesson's accuracy\n"
                "    with torch.no_grad():\n"
                "        return {'accuracy': float(((detector(x).squeeze(1) > 0) == y.bool()).float().mean())}\n"),
        },
        "fails": {"test_auc": "calls genlearn's own", "test_detector_learns": "calls genlearn's own",
                  "test_tstr_target": "calls genlearn's own", "test_evaluate_on_real": "KeyError"},
    },
}

ROBUSTNESS = {"answer": "answer_evaluate_on_real", "tests": ["test_evaluate_on_real"]}
