"""Wrong submissions for ex06_wasserstein (see README.md)."""

SUBMISSIONS = {
    "critic-loss-signs-swapped": {
        "mistake": "the critic's objective E d(x) - E d(G(z)) used as its loss (maximized instead of minimized)",
        "replace": [("answer_critic_loss", "return fake_scores.mean() - real_scores.mean()",
                     "return real_scores.mean() - fake_scores.mean()")],
        "fails": {"test_critic_loss": "that is what the critic maximizes"},
    },
    "critic-loss-summed": {
        "mistake": "sums the scores over the batches instead of averaging",
        "replace": [("answer_critic_loss", "return fake_scores.mean() - real_scores.mean()",
                     "return fake_scores.sum() - real_scores.sum()")],
        "fails": {"test_critic_loss": "You summed over the batches"},
    },
    "critic-loss-logits": {
        "mistake": "treats the critic's scores as logits: the GAN discriminator's softplus loss",
        "replace": [("answer_critic_loss", "return fake_scores.mean() - real_scores.mean()",
                     "return (torch.nn.functional.softplus(fake_scores).mean()\n"
                     "            - torch.nn.functional.softplus(real_scores).mean() + 2 * math.log(2))")],
        "fails": {"test_critic_loss": "no softplus or log-sigmoid"},
    },
    "gp-one-eps-per-batch": {
        "mistake": "one epsilon for the whole batch",
        "replace": [("answer_gp", "torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)",
                     "torch.rand((1,) * real.dim(), generator=generator)")],
        "fails": {"test_gp_per_sample": "one epsilon for the whole batch"},
    },
    "gp-eps-per-coordinate": {
        "mistake": "one epsilon per coordinate: x_hat leaves the line between real and fake",
        "replace": [("answer_gp", "torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)",
                     "torch.rand(real.shape, generator=generator)")],
        "fails": {"test_gp_per_sample": "one epsilon per coordinate"},
    },
    "gp-no-create-graph": {
        "mistake": "the penalty's gradient is computed without create_graph: it never trains the critic",
        "replace": [("answer_gp", "x_hat, create_graph=True)", "x_hat)")],
        "fails": {"test_gp_values": "create_graph=True"},
    },
    "gp-squared-norm": {
        "mistake": "penalizes ||grad||^2 instead of (||grad|| - 1)^2",
        "replace": [("answer_gp", "return (norms - 1).square().mean()", "return norms.square().mean()")],
        "fails": {"test_gp_values": "You penalized ||grad||^2"},
        "also_fails": ["test_gp_per_sample"],
    },
    "gp-batch-norm": {
        "mistake": "one gradient norm over the whole batch instead of one per sample",
        "replace": [("answer_gp", "norms = grad.flatten(1).norm(dim=1)", "norms = grad.norm()")],
        "fails": {"test_gp_values": "one norm over the whole batch"},
        "also_fails": ["test_gp_per_sample", "test_train_step"],  # its penalty blows the critic up to NaN
    },
    "step-one-critic-step": {
        "mistake": "one critic update per generator update, whatever n_critic",
        "replace": [("answer_train_step", "for real in real_batches:", "for real in real_batches[:1]:")],
        "fails": {"test_train_step": "n_critic = 3 critic updates"},
    },
    "step-no-penalty": {
        "mistake": "the critic's update leaves out the gradient penalty",
        "replace": [("answer_train_step", "\n               + gp_weight * gradient_penalty(critic, real, fake, generator))", ")")],
        "fails": {"test_train_step": "critic_loss + gp_weight * gradient_penalty"},
    },
    "step-g-loss-sign": {
        "mistake": "the generator minimizes +E d(G(z)), pushing its samples where the critic scores them fake",
        "replace": [("answer_train_step", "g_l = -critic(fake).mean()", "g_l = critic(fake).mean()")],
        "fails": {"test_train_step": "the generator minimizes -mean(d(fake))"},
    },
}

ROBUSTNESS = {"answer": "answer_train_step", "tests": ["test_train_step"]}
