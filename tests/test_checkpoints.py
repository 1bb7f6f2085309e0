import os

import pytest
import torch

from genlearn.checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from genlearn.models import GAN, GANConfig, VAE, VAEConfig


def test_vae_round_trip(tmp_path):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=3, hidden=(32,), likelihood="gaussian", beta=2.0))
    path = save_checkpoint(vae, tmp_path / "sub" / "vae.pt", metadata={"epochs": 3, "shape": (1, 2)})
    loaded, meta = load_checkpoint(path)
    assert meta == {"epochs": 3, "shape": [1, 2]}
    assert loaded.config == vae.config and not loaded.training
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(loaded.reconstruct(x), vae.eval().reconstruct(x))


def test_gan_round_trip_keeps_the_ema_generator(tmp_path):
    torch.manual_seed(0)
    gan = GAN(GANConfig(hidden=(16,), n_classes=3))
    gan.enable_ema()
    with torch.no_grad():
        gan.G_ema.net[0].weight.add_(1.0)
    loaded, _ = load_checkpoint(save_checkpoint(gan, tmp_path / "gan.pt"), expect="gan")
    z, y = torch.randn(5, 16), torch.tensor([0, 1, 2, 0, 1])
    assert torch.equal(loaded.sample(5, y, z=z), gan.sample(5, y, z=z))
    assert not torch.equal(loaded.sample(5, y, z=z, ema=False), loaded.sample(5, y, z=z))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    path = save_checkpoint(vae, tmp_path / "m.pt")
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(VAE(VAEConfig(hidden=(8,), latent_dim=3)), path)
    assert path.read_bytes() == good  # the old checkpoint survives a failed save
    assert os.listdir(tmp_path) == ["m.pt"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_checkpoint(junk)
    good = save_checkpoint(VAE(VAEConfig(hidden=(8,))), tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_checkpoint(truncated)


def test_foreign_and_mismatched_files(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a genlearn checkpoint"):
        load_checkpoint(plain)
    path = save_checkpoint(VAE(VAEConfig(hidden=(8,))), tmp_path / "vae.pt")
    with pytest.raises(CheckpointError, match="holds a VAE, but a GAN was expected"):
        load_checkpoint(path, expect="gan")
    payload = read_checkpoint(path)
    payload["config"]["hidden"] = [16]
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")
    payload["config"]["colour"] = "blue"
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="does not know.*colour"):
        load_checkpoint(tmp_path / "future.pt")


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > " + str(tmp_path / "owned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": "genlearn-checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "owned").exists()


def test_only_genlearn_models_can_be_saved(tmp_path):
    with pytest.raises(TypeError, match="expected a genlearn model"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_every_registered_model_kind_round_trips(tmp_path):
    from genlearn.models import MADE, MODEL_KINDS, Autoencoder, Diffusion, Flow, kind_of

    torch.manual_seed(0)
    models = {"autoencoder": Autoencoder(latent_dim=3, hidden=(8,)), "diffusion": Diffusion(T=5, hidden=(8,)),
              "flow": Flow(n_layers=2, hidden=(8,)), "made": MADE(x_shape=(1, 2, 2), hidden=(8,))}
    models["diffusion"].fit_normalization(torch.randn(100, 2) * 3 + 1)
    models["flow"].fit_normalization(torch.randn(100, 2) * 2 - 1)
    assert set(models) < set(MODEL_KINDS)
    for kind, model in models.items():
        path = save_checkpoint(model, tmp_path / f"{kind}.pt")
        loaded, _ = load_checkpoint(path, expect=kind)
        assert kind_of(loaded) == kind and loaded.config == model.config
        for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), f"{kind}: {k} differs after loading"


def test_every_malformed_file_raises_checkpoint_error(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable genlearn checkpoint"):
        load_checkpoint(empty)  # was an IndexError
    path = save_checkpoint(VAE(VAEConfig(hidden=(8,), latent_dim=2)), tmp_path / "vae.pt")
    for change, message in [
        (lambda p: p["config"].update(hidden=[-4]), r"does not build a model: hidden\[0\] must be >= 1, got -4"),
        (lambda p: p["config"].update(latent_dim=0), "latent_dim must be >= 1"),
        (lambda p: p["config"].update(beta=float("nan")), "beta must be a finite number"),
        (lambda p: p["config"].update(hidden=list(range(1, 50))), "lists 49 sizes, more than the 8 tensors"),
        (lambda p: p.update(config=[1, 2]), "its config should be a dict, got list"),
        (lambda p: p["state_dict"].update(extra=[1.0]), "should hold tensors only; 'extra' is not one"),
        (lambda p: p["state_dict"].pop("dec.0.bias"), r"missing \['dec.0.bias'\]"),
    ]:
        payload = read_checkpoint(path)
        change(payload)
        torch.save(payload, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / "bad.pt")


def test_a_config_is_checked_against_the_stored_shapes_before_any_memory_is_spent(tmp_path, monkeypatch):
    """A 10 kB file whose config asks for 4096-wide layers (256 MB of weights): refused by its
    shapes, and the only model built is a meta-device skeleton."""
    path = save_checkpoint(VAE(VAEConfig(hidden=(8,), latent_dim=2)), tmp_path / "vae.pt")
    payload = read_checkpoint(path)
    payload["config"]["hidden"] = [4096, 4096, 4096]
    torch.save(payload, tmp_path / "huge.pt")
    assert (tmp_path / "huge.pt").stat().st_size < 20_000
    built_on = []
    real_init = VAE.__init__

    def init(self, *args, **kwargs):
        built_on.append(torch.empty(0).device.type)  # the default device while building
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "__init__", init)
    with pytest.raises(CheckpointError, match=r"describes: dec.0.bias: config says \(4096,\), file holds \(8,\)"):
        load_checkpoint(tmp_path / "huge.pt")
    assert built_on == ["meta"]
    load_checkpoint(path)
    assert built_on == ["meta", "meta", "cpu"]  # an honest file: the skeleton, then the model
