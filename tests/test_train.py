import pytest
import torch

from genlearn.data import digits, toy2d
from genlearn.models import GAN, GANConfig, VAE, VAEConfig
from genlearn.train import GanStepper, History, train_classifier, train_diffusion, train_gan, train_vae


def small_vae(seed=0, **kw):
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=4, hidden=(64,), **kw))


def test_vae_training_improves_the_elbo_and_logs_epochs():
    data = digits("train")
    vae = small_vae()
    hist = train_vae(vae, data, epochs=6, batch_size=64, lr=3e-3, progress=False)
    epochs = [r for r in hist.records if "epoch" in r]
    assert [r["epoch"] for r in epochs] == list(range(1, 7))
    elbo = hist.series("elbo")
    assert elbo[-1] > elbo[0] + 5  # nats per image
    assert hist.steps == 6 * (1437 // 64) and hist.stopped == "finished"
    assert not vae.training


def test_training_is_deterministic_by_seed():
    data = digits("train")
    runs = []
    for _ in range(2):
        vae = small_vae(seed=3)
        runs.append(train_vae(vae, data, epochs=2, seed=5, progress=False).series("loss"))
    assert (runs[0] == runs[1]).all()


def test_vae_weight_average_is_what_the_model_ends_with():
    data = digits("train").subset(320)
    runs = []  # per run: the raw weights after each step, read by a callback run at every step

    def train(**kw):
        model, seen = small_vae(seed=2), {}
        runs.append(seen)

        def snapshot(history):
            seen.setdefault(history.steps, [p.detach().clone() for p in model.parameters()])
        train_vae(model, data, epochs=3, batch_size=64, seed=4, progress=False, log_every=1,
                  callbacks=[snapshot], **kw)
        return model

    train()
    averaged = train(ema_decay=0.9)
    raw, seen_with_average = runs
    assert sorted(raw) == list(range(1, 16)) and sorted(seen_with_average) == sorted(raw)
    assert all(torch.equal(a, b) for a, b in zip(raw[15], seen_with_average[15])), \
        "the average must not change the training itself (the callbacks see the raw weights)"
    expected = [p.detach().clone() for p in small_vae(seed=2).parameters()]
    for t in range(1, 16):
        d = min(0.9, (1 + t) / (10 + t))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, raw[t])]
    for got, want, last in zip(averaged.parameters(), expected, raw[15]):
        assert torch.allclose(got, want, atol=1e-6)
        assert not torch.allclose(got, last, atol=1e-4), "the model must end with the average, not the last step"
    with pytest.raises(ValueError, match="ema_decay"):
        train_vae(small_vae(), data, epochs=1, ema_decay=1.5, progress=False)


def test_time_budget_stops_training():
    data = digits("train")
    hist = train_vae(small_vae(), data, epochs=10_000, max_seconds=0.5, progress=False)
    assert hist.stopped == "time budget" and hist.seconds < 3
    with pytest.raises(ValueError, match="max_seconds"):
        train_vae(small_vae(), data, epochs=1, max_seconds=-1, progress=False)


def test_callbacks_see_the_history_and_can_stop():
    seen = []

    def cb(history: History):
        seen.append(history.records[-1]["step"])
        return len(seen) == 3

    hist = train_gan(GAN(GANConfig(hidden=(16,))), toy2d("ring", 512), steps=1000, batch_size=64,
                     log_every=5, callbacks=[cb], progress=False)
    assert seen == [5, 10, 15] and hist.steps == 15 and hist.stopped == "callback"


def test_conditional_vae_trains_on_labels():
    data = digits("train")
    cvae = small_vae(n_classes=10)
    hist = train_vae(cvae, data, epochs=1, progress=False)
    assert hist.steps > 0 and torch.isfinite(torch.tensor(hist.series("loss"))).all()


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "wgan-gp", "hinge"])
def test_gan_losses_train_without_nans(loss):
    torch.manual_seed(0)
    gan = GAN(GANConfig(hidden=(32, 32), loss=loss, r1_gamma=0.1 if loss == "nonsaturating" else 0))
    hist = train_gan(gan, toy2d("ring", 1024), steps=40, batch_size=64, n_critic=2,
                     ema_decay=0.9, lr_decay=True, log_every=10, progress=False)
    assert hist.steps == 40 and len(hist.series("loss_d")) == 4
    assert all(torch.isfinite(torch.tensor(hist.series(k))).all() for k in ("loss_d", "loss_g"))
    assert gan.G_ema is not None


def test_gan_training_moves_samples_toward_the_data():
    ring = toy2d("ring", 4096, seed=0)
    torch.manual_seed(0)
    gan = GAN(GANConfig(latent_dim=2, hidden=(64, 64), r1_gamma=0.1))

    def near_ring():  # the ring has radius 2; an untrained generator's points sit near the origin
        return ((gan.sample(1000).norm(dim=1) - 2.0).abs() < 0.3).float().mean().item()

    before = near_ring()
    # the ring recipe's optimiser settings; seeds 0-3 put 0.85-0.96 of samples near the ring in about 1 s
    train_gan(gan, ring, steps=500, batch_size=128, lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99), progress=False)
    assert before < 0.2 and near_ring() > 0.7


def test_conditional_dcgan_step_runs_on_image_labels():
    data = digits("train", binarize=False, size=16).subset(128)
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(1, 16, 16), arch="dcgan", base_channels=8, n_classes=10))
    hist = train_gan(gan, data, steps=3, batch_size=32, progress=False)
    assert hist.steps == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train_gan(GAN(), toy2d("ring", 64), steps=0, progress=False)
    with pytest.raises(TypeError, match="expected a dataset"):
        train_vae(small_vae(), "digits", progress=False)
    with pytest.raises(ValueError, match=r"data must have shape \(B, 1, 8, 8\), got \(256, 2\)"):
        train_vae(small_vae(), toy2d("ring", 256), progress=False)


def _small_gan():
    torch.manual_seed(0)
    return GAN(GANConfig(hidden=(16,), latent_dim=2, r1_gamma=0.1))


def test_train_gan_is_the_gan_stepper_in_a_loop():
    ring = toy2d("ring", 512)
    looped = _small_gan()
    train_gan(looped, ring, steps=6, batch_size=64, r1_every=2, seed=3, progress=False)
    stepped = _small_gan()
    torch.manual_seed(3)  # train_gan seeds the global stream the stepper draws noise from
    stepper = GanStepper(stepped, ring, batch_size=64, r1_every=2, seed=3)
    for _ in range(3):
        stepper.step()
    for _ in range(3):  # resuming: the optimizers and the epoch of real batches carry on
        parts = stepper.step()
    assert stepper.steps == 6 and stepper.d_steps == 6
    assert int(stepper.opt_g.state_dict()["state"][0]["step"]) == 6, "Adam must keep its state between steps"
    assert set(parts) == {"loss_d", "loss_g"} and not parts["loss_d"].requires_grad
    for a, b in zip(looped.parameters(), stepped.parameters()):
        assert torch.equal(a, b), "train_gan must train exactly as its stepper does"


def test_gan_stepper_settings_change_between_steps():
    stepper = GanStepper(_small_gan(), toy2d("ring", 256), batch_size=32, n_critic=2, lr_g=1e-3, lr_d=1e-3)
    stepper.step()
    assert stepper.steps == 1 and stepper.d_steps == 2
    stepper.set_lr(5e-4, 2e-3)
    assert stepper.opt_g.param_groups[0]["lr"] == 5e-4 and stepper.opt_d.param_groups[0]["lr"] == 2e-3
    stepper.r1_gamma = 0.0
    stepper.step()
    with pytest.raises(ValueError, match="lr_g"):
        GanStepper(_small_gan(), toy2d("ring", 64), lr_g=0)
    with pytest.raises(ValueError, match="lr_d"):
        stepper.set_lr(1e-3, 2.0)
    with pytest.raises(ValueError, match="n_critic"):
        GanStepper(_small_gan(), toy2d("ring", 64), n_critic=0)


def test_train_classifier_fits_a_separable_problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=gen)
    y = (x[:, 0] > 0).float()
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    loss = lambda idx: torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), y[idx])  # noqa: E731
    with torch.no_grad():
        before = float(loss(torch.arange(400)))
    with torch.no_grad():  # it trains even when called inside an evaluation
        train_classifier(net, len(x), loss, steps=200, batch_size=64, lr=0.05, generator=gen)
    with torch.no_grad():
        accuracy = float(((net(x).squeeze(1) > 0).float() == y).float().mean())
        assert float(loss(torch.arange(400))) < 0.5 * before and accuracy > 0.95


# ---------------------------------------------------------------- divergence and bad data

def test_a_non_finite_loss_stops_every_loop_naming_the_step(tmp_path):
    import json
    import math

    from genlearn.atomic import write_json
    from genlearn.models import Diffusion

    ring = toy2d("ring", 512)
    vae = VAE(VAEConfig(x_shape=(2,), hidden=(16,), latent_dim=2, likelihood="gaussian"))
    with pytest.warns(RuntimeWarning, match="training diverged at step 1: loss = inf"):
        hist = train_vae(vae, ring.x * 1e30, epochs=50, progress=False)  # squares overflow float32
    assert hist.stopped == "diverged" and hist.steps < 10  # stopped at the first log point, not after 50 epochs
    assert "learning rate too high (lr=0.001), or data with extreme values" in hist.message

    gan = _small_gan()
    with torch.no_grad():
        gan.D.head.bias.fill_(math.nan)
    with pytest.warns(RuntimeWarning, match=r"at step 1: loss_d = nan.*\(lr_g=0.0002, lr_d=0.0002\)"):
        hist = train_gan(gan, ring, steps=1000, batch_size=64, log_every=10, progress=False)
    assert hist.stopped == "diverged" and hist.steps == 10

    torch.manual_seed(0)
    model = Diffusion(T=5, hidden=(8,))
    real_loss, calls = model.loss, []

    def loss_that_overflows_at_step_7(x):
        calls.append(1)
        loss, _ = real_loss(x)
        loss = loss * (math.inf if len(calls) == 7 else 1.0)
        return loss, {"loss": loss.detach()}

    model.loss = loss_that_overflows_at_step_7
    with pytest.warns(RuntimeWarning, match="at step 7: loss = inf"):
        hist = train_diffusion(model, ring, steps=100, log_every=25, progress=False)
    assert hist.stopped == "diverged" and hist.steps == 25
    path = write_json(tmp_path / "history.json", hist.to_dict())  # NaN/inf never reach a JSON file
    assert "Infinity" not in path.read_text() and json.loads(path.read_text())["stopped"] == "diverged"

    net = torch.nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="training diverged at step 1: loss = nan"):
        train_classifier(net, 10, lambda idx: torch.tensor(math.nan, requires_grad=True), steps=5,
                         batch_size=4, lr=0.01, generator=torch.Generator())


def test_training_data_is_checked_and_converted_where_the_meaning_is_obvious():
    data = digits("train").x[:256]
    for bad, error, message in [
        (data[:0], ValueError, r"data is empty \(shape \(0, 1, 8, 8\)\)"),
        (data * 255, ValueError, r"data values must lie in \[0, 1\], got min 0, max 255 \(pixels in \[0, 255\]\? divide by 255\)"),
        (torch.where(torch.arange(256)[:, None, None, None] == 3, float("nan"), data), ValueError,
         "data must hold finite numbers, got 64 NaN or infinite value"),
        ("digits", TypeError, "expected a dataset"),
    ]:
        with pytest.raises(error, match=message):
            train_vae(small_vae(), bad, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"lr must be a learning rate in \(0, 1\), got 1000000.0"):
        train_vae(small_vae(), data, lr=1e6, progress=False)
    with pytest.raises(ValueError, match="seed must be between 0 and 4294967295"):
        train_vae(small_vae(), data, seed=2**70, progress=False)
    runs = [train_vae(small_vae(), x, epochs=1, progress=False).series("loss")
            for x in (data, data.double(), data.long(), data.numpy())]
    assert all((r == runs[0]).all() for r in runs), "float64, int64 and numpy 0/1 pixels mean the same data"


def test_train_likelihood_is_deterministic_by_seed_and_honours_the_budget():
    from genlearn.models import MADE
    from genlearn.train import train_likelihood

    data = digits("train")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        made = MADE(hidden=(32,))
        hist = train_likelihood(made, data, epochs=2, batch_size=128, seed=4, progress=False, log_every=5)
        runs.append(hist.series("nll"))
    assert (runs[0] == runs[1]).all() and runs[0][-1] < runs[0][0]
    assert [r["epoch"] for r in hist.records if "epoch" in r] == [1, 2] and not made.training
    hist = train_likelihood(MADE(hidden=(32,)), data, epochs=10_000, max_seconds=0.3, progress=False)
    assert hist.stopped == "time budget" and hist.seconds < 3


def test_train_likelihood_standardizes_a_flow_on_its_data():
    from genlearn.models import Flow
    from genlearn.train import train_likelihood

    ring = toy2d("ring", 512)
    flow = Flow(n_layers=2, hidden=(8,))
    train_likelihood(flow, ring, epochs=1, batch_size=256, progress=False)
    assert torch.allclose(flow.shift, ring.x.mean(0)) and torch.allclose(flow.scale, ring.x.std(0))


def test_reward_finetuning_raises_the_reward_and_the_kl_anchor_holds_it_back():
    from genlearn.models import MADE
    from genlearn.train import finetune_with_reward

    def reward(x):                       # the share of lit pixels: the policy should light them all
        return x.flatten(1).mean(1)

    gains, kls = {}, {}
    for kl_weight in (0.0, 1.0):
        torch.manual_seed(0)
        made = MADE(x_shape=(8,), hidden=(16,))
        hist = finetune_with_reward(made, reward, steps=60, batch_size=64, lr=1e-2,
                                    kl_weight=kl_weight, progress=False, log_every=20)
        gains[kl_weight] = hist.series("reward")[-1] - hist.series("reward")[0]
        kls[kl_weight] = hist.series("kl")[-1]
        assert hist.steps == 60 and not made.training
    assert gains[0.0] > 0.2, f"the mean reward should rise by > 0.2, rose {gains[0.0]:.2f}"
    assert kls[1.0] < kls[0.0], "the KL anchor should keep the policy nearer the start"
    with pytest.raises(ValueError, match="kl_weight"):
        finetune_with_reward(MADE(x_shape=(4,)), reward, kl_weight=-1, progress=False)


def test_notebook_progress_bar_is_replaced_by_its_final_line(monkeypatch):
    """In a notebook the saved output of a finished bar reads 100%, not the 0% it was displayed with."""
    import IPython.display
    import tqdm.notebook

    from genlearn import train as train_module

    shown = []

    class Handle:
        def update(self, obj, raw=False):
            assert raw, "the final text is a raw bundle"
            shown.append(obj)

    def display(obj, raw=False, display_id=None):
        # A widget object would be displayed by ipywidgets 7 (Colab's) through _ipython_display_,
        # which drops display_id: the bar must go out as a raw bundle that carries the id itself.
        assert raw and display_id is True and isinstance(obj, dict), (obj, raw, display_id)
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(train_module, "NOTEBOOK_BAR", True)
    monkeypatch.setattr(train_module, "tqdm", tqdm.notebook.tqdm)
    loop = train_module._Loop(5, "step", None, [], True, 1, torch.device("cpu"))
    model_id = loop.bar.container.model_id
    for _ in range(5):
        loop.step({"loss": torch.tensor(1.0)})
    loop.close()
    assert len(shown) == 2, shown                 # the widget once, then its final text
    assert shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == model_id
    assert shown[0]["text/plain"].startswith("  0%"), shown[0]["text/plain"]
    final = shown[-1]["text/plain"]
    assert final.startswith("100%") and "5/5" in final and "loss=1" in final, final


@pytest.mark.slow
def test_a_loss_that_grows_by_orders_of_magnitude_has_diverged():
    """Issue 26, case 6: at lr 0.9 the VAE's loss went from about 4 to 4.9e8 and training
    ended as "finished". A loss past 10,000 times its first step's (or past 10,000 when that
    was below 1) now stops training as a non-finite one does; healthy runs stay far below."""
    from genlearn import recipes
    from genlearn.train import DIVERGENCE_GROWTH

    ring = toy2d("ring", 2048)
    torch.manual_seed(0)
    vae = VAE(VAEConfig(x_shape=(2,), hidden=(128, 128), latent_dim=2, likelihood="gaussian"))
    with pytest.warns(RuntimeWarning, match=r"training diverged at step \d+: loss = \S+ \(it was \S+ at step 1; "
                                            r"past [\d,]+ counts as diverged\)\. Likely causes: a learning rate "
                                            r"too high \(lr=0.9\)"):
        hist = train_vae(vae, ring, epochs=30, lr=0.9, progress=False)
    assert hist.stopped == "diverged" and hist.steps <= 50
    with pytest.warns(RuntimeWarning, match=r"loss_[dg] = .*\(lr_g=0.9, lr_d=0.9\)"):
        hist = train_gan(recipes.build("gan", "ring"), ring, steps=500, lr_g=0.9, lr_d=0.9, progress=False)
    assert hist.stopped == "diverged" and hist.steps <= 100
    result = recipes.fit("vae", "ring", epochs=5, lr=0.9, progress=False)
    assert result.metrics["stopped"] == "diverged" and result.samples is None
    # GAN losses move around but not by orders of magnitude: a healthy WGAN-GP run stays below
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(2,), hidden=(64, 64), latent_dim=2, loss="wgan-gp"))
    hist = train_gan(gan, ring, steps=300, n_critic=2, lr_g=2e-3, lr_d=2e-3, log_every=10, progress=False)
    assert hist.stopped == "finished"
    assert max(abs(hist.series("loss_g")).max(), abs(hist.series("loss_d")).max()) < DIVERGENCE_GROWTH / 100


def test_counts_are_whole_numbers_not_booleans_and_are_used_as_checked():
    """Issue 26, case 6: fit(..., epochs=True) trained one epoch and vae.sample(2.0) raised a raw
    torch error; a count is an integer (2.0 is taken as 2, as everywhere in genlearn)."""
    from genlearn import recipes
    from genlearn.models import MADE, Autoencoder, Diffusion, Flow

    for call, message in [
        (lambda: recipes.fit("vae", "digits", epochs=True, progress=False), "epochs must be an integer, got True"),
        (lambda: train_vae(small_vae(), digits("train").x[:64], epochs=True, progress=False),
         "epochs must be an integer, got True"),
        (lambda: train_gan(_small_gan(), toy2d("ring", 64), steps=1, batch_size=False, progress=False),
         "batch_size must be an integer, got False"),
        (lambda: small_vae().sample(2.5), "n must be an integer, got 2.5"),
    ]:
        with pytest.raises(TypeError, match=message):
            call()
    for model in (small_vae(), _small_gan(), Autoencoder(hidden=(8,)), Diffusion(T=3, hidden=(8,)),
                  Flow(n_layers=2, hidden=(8,)), MADE(x_shape=(1, 2, 2), hidden=(8,))):
        assert len(model.sample(2.0)) == 2, type(model).__name__
    with pytest.raises(ValueError, match=r"betas\[0\] must be a number in \[0, 1\), got 1.5"):
        train_gan(_small_gan(), toy2d("ring", 64), steps=1, betas=(1.5, 0.9), progress=False)
    with pytest.raises(ValueError, match="ema_decay must be between 0 and 1, got 2"):
        train_gan(_small_gan(), toy2d("ring", 64), steps=1, ema_decay=2, progress=False)


def test_train_gan_calibrates_rejection_on_its_data_at_the_end():
    ring = toy2d("ring", 2000)
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=2, hidden=(32, 32), r1_gamma=0.1, rejection=0.05))
    train_gan(gan, ring, steps=40, batch_size=128, lr_g=1e-3, lr_d=1e-3, progress=False)
    with torch.no_grad():
        below = (gan.D(ring.x) < gan.accept_above).float().mean().item()
    assert below == pytest.approx(0.05, abs=0.002)
    with torch.no_grad():
        assert (gan.D(gan.sample(500)) >= gan.accept_above).all()


def test_adam_betas_are_a_pair_of_numbers_in_the_unit_interval():
    from genlearn.train import check_betas

    assert check_betas("betas", (0.5, 0.999)) == (0.5, 0.999)
    for bad, message in [((0.5, 1.0), r"betas\[1\] must be a number in \[0, 1\), got 1.0"),
                         ((True, 0.9), r"betas\[0\] must be a number in \[0, 1\), got True"),
                         ((0.5,), "must be a pair"), ("ab", "must be a pair")]:
        with pytest.raises(ValueError, match=message):
            check_betas("betas", bad)
