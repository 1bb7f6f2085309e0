"""Wrong submissions for ex03_gan (see README.md)."""

SUBMISSIONS = {
    "d-loss-signs-swapped": {
        "mistake": "rewards D for high logits on fakes: softplus(r) + softplus(-f)",
        "replace": [("answer_d_loss",
                     "F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
                     "F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()")],
        "fails": {"test_d_loss": "confident and right"},
    },
    "d-loss-summed": {
        "mistake": "sums over the batches instead of averaging (wrong reduction)",
        "replace": [("answer_d_loss",
                     "F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()",
                     "F.softplus(-real_logits).sum() + F.softplus(fake_logits).sum()")],
        "fails": {"test_d_loss": "You summed over the batches"},
    },
    "g-loss-minimax": {
        "mistake": "the saturating minimax generator loss log(1 - D(G(z)))",
        "replace": [("answer_g_loss", "return F.softplus(-fake_logits).mean()",
                     "return -F.softplus(fake_logits).mean()")],
        "fails": {"test_g_loss": "saturating minimax loss"},
    },
    "g-step-detached": {
        "mistake": "detaches the fakes in the generator step: G never learns",
        "replace": [("answer_train_step", "g_l = generator_loss(D(fake).squeeze(1))",
                     "g_l = generator_loss(D(fake.detach()).squeeze(1))")],
        "fails": {"test_train_step": "generator's parameters did not change"},
    },
    "d-no-zero-grad": {
        "mistake": "no opt_d.zero_grad(): the generator step's gradients leak into D's update",
        "replace": [("answer_train_step", "    opt_d.zero_grad()\n", "")],
        "fails": {"test_train_step": "call opt_d.zero_grad()"},
    },
    "modes-no-quality-threshold": {
        "mistake": "counts nearest centres of all samples, also far-away ones",
        "replace": [("answer_modes", "torch.unique(nearest[good])", "torch.unique(nearest)")],
        "fails": {"test_modes": "not high quality"},
    },
    "modes-one-std": {
        "mistake": "a 1-std radius instead of 3 std",
        "replace": [("answer_modes", "nearest_dist <= 3 * std", "nearest_dist <= std")],
        "fails": {"test_modes": "2.5 std from centre 5 covers it"},
    },
}

ROBUSTNESS = {"answer": "answer_modes", "tests": ["test_modes"]}
