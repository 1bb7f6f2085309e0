import os

import pytest
import torch

from genlearn.checkpoints import CheckpointError, digest, load_checkpoint, read_checkpoint, save_checkpoint
from genlearn.models import GAN, GANConfig, VAE, VAEConfig


def forge(payload, path):
    """Save a changed checkpoint as a forger would: with the digest of its new contents, so
    that the checks behind the digest are what refuses it."""
    try:
        payload["digest"] = digest(payload)
    except (TypeError, ValueError, AttributeError, KeyError):
        pass  # contents no digest describes: the file is refused as damaged
    torch.save(payload, path)
    return path


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
    forge(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")
    payload["config"]["colour"] = "blue"
    forge(payload, tmp_path / "future.pt")
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
    """Every kind in the registry, none left out: a kind added to MODEL_KINDS is saved and
    loaded here with its default config (tests/test_model_interface.py also compares outputs)."""
    from genlearn.models import MODEL_KINDS, kind_of

    round_tripped = set()
    for kind, entry in MODEL_KINDS.items():
        torch.manual_seed(0)
        model = entry.model(entry.config())
        if hasattr(model, "fit_normalization"):  # buffers away from their defaults, so loading must restore them
            model.fit_normalization(torch.randn(100, *model.config.x_shape) * 3 + 1)
        path = save_checkpoint(model, tmp_path / f"{kind}.pt")
        loaded, _ = load_checkpoint(path, expect=kind)
        assert kind_of(loaded) == kind and loaded.config == model.config
        assert loaded.state_dict().keys() == model.state_dict().keys(), kind
        for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), f"{kind}: {k} differs after loading"
        round_tripped.add(kind)
    assert round_tripped == set(MODEL_KINDS)


def test_a_kind_with_optional_parts_says_which_saved_keys_need_them(tmp_path):
    """checkpoints.py names no submodule: the GAN's ``expect_state`` adds its EMA generator
    when the saved keys hold one, and a plain GAN loads without it."""
    from genlearn.models import GAN

    torch.manual_seed(0)
    gan = GAN(hidden=(8,))
    plain, _ = load_checkpoint(save_checkpoint(gan, tmp_path / "plain.pt"), expect="gan")
    assert plain.G_ema is None
    gan.enable_ema()
    gan.update_ema(0.0)
    with_ema, _ = load_checkpoint(save_checkpoint(gan, tmp_path / "ema.pt"), expect="gan")
    assert with_ema.G_ema is not None
    z = torch.randn(5, gan.config.latent_dim)
    assert torch.equal(with_ema.G_ema(z), gan.G_ema.eval()(z))


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
        forge(payload, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / "bad.pt")


def test_a_config_is_checked_against_the_stored_shapes_before_any_memory_is_spent(tmp_path, monkeypatch):
    """A 10 kB file whose config asks for 4096-wide layers (256 MB of weights): refused by its
    shapes, and the only model built is a meta-device skeleton."""
    path = save_checkpoint(VAE(VAEConfig(hidden=(8,), latent_dim=2)), tmp_path / "vae.pt")
    payload = read_checkpoint(path)
    payload["config"]["hidden"] = [4096, 4096, 4096]
    forge(payload, tmp_path / "huge.pt")
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


# ---------------------------------------------------------------- issue 26, case 5

def test_metadata_holds_plain_values_numpy_scalars_converted_anything_else_refused_at_save(tmp_path):
    """save_checkpoint(m, path, metadata={'best_loss': np.float64(23.7)}) used to succeed and the
    file was then refused at load as corrupt; a lambda gave a bare pickling error."""
    import pathlib

    import numpy as np

    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    meta = {"best_loss": np.float64(23.7), "epoch": np.int64(3), "ok": np.bool_(True), "lr": np.float32(0.5),
            "shape": (1, 2), "nested": {"scores": [np.float32(1.5), None, "x"], 7: "int key"}}
    loaded = load_checkpoint(save_checkpoint(vae, tmp_path / "m.pt", metadata=meta))[1]
    assert loaded == {"best_loss": 23.7, "epoch": 3, "ok": True, "lr": 0.5, "shape": [1, 2],
                      "nested": {"scores": [1.5, None, "x"], "7": "int key"}}
    assert type(loaded["best_loss"]) is float and type(loaded["epoch"]) is int and type(loaded["ok"]) is bool
    for bad, message in [
        ({"samples": np.zeros(3)}, r"metadata\['samples'\] is a ndarray .*convert it with .tolist\(\)"),
        ({"out": pathlib.Path("runs/x")}, r"metadata\['out'\] is a PosixPath .*store str\(path\)"),
        ({"hook": lambda x: x}, r"metadata\['hook'\] is a function"),
        ({"history": [{"loss": torch.tensor(1.0)}]}, r"metadata\['history'\]\[0\]\['loss'\] is a Tensor"),
        ({"tags": {"a", "b"}}, r"metadata\['tags'\] is a set"),
        ({(1, 2): "pair"}, r"metadata has a key \(1, 2\) of type tuple: keys must be strings"),
        ("not a dict", "metadata must be a dict, got str"),
    ]:
        with pytest.raises(TypeError, match=message):
            save_checkpoint(vae, tmp_path / "bad.pt", metadata=bad)
    deep = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(TypeError, match="nested more than 32 levels deep"):
        save_checkpoint(vae, tmp_path / "bad.pt", metadata={"deep": deep})
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]  # nothing written for a refused save


def test_a_changed_byte_is_a_checkpoint_error_naming_the_file(tmp_path):
    """64 zeroed bytes of a model.pt used to load silently, with changed weights."""
    torch.manual_seed(0)
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    path = save_checkpoint(vae, tmp_path / "model.pt", metadata={"data": "digits"})
    blob = path.read_bytes()
    weight = vae.state_dict()["dec.0.weight"].numpy().tobytes()
    at = blob.index(weight)  # the tensor's bytes, stored as they are in memory
    for offset, value in [(at + 5, blob[at + 5] ^ 0x01), (blob.index(b"digits") + 2, ord("x"))]:
        damaged = bytearray(blob)
        damaged[offset] = value
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match=f"{path} is damaged: its contents do not match the digest"):
            load_checkpoint(path)
    path.write_bytes(blob)
    assert load_checkpoint(path)[1] == {"data": "digits"}


def test_weights_that_are_not_finite_are_refused_at_save_and_at_load(tmp_path):
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    path = save_checkpoint(vae, tmp_path / "vae.pt")
    with torch.no_grad():
        vae.dec[0].weight[0, 0] = float("nan")
        vae.dec[0].bias[1] = float("inf")
    with pytest.raises(ValueError, match=r"weights hold 1 NaN or infinite value\(s\) \(first in 'dec.0.weight'\): "
                                         "it diverged; nothing saved"):
        save_checkpoint(vae, tmp_path / "nan.pt")
    payload = read_checkpoint(path)
    payload["state_dict"]["dec.0.bias"][0] = float("nan")
    forge(payload, tmp_path / "nan.pt")  # a file that says what it holds, NaN included
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nan.pt'}: its weights hold 1 NaN or infinite"):
        load_checkpoint(tmp_path / "nan.pt")


def test_version_1_files_from_before_digests_are_read_with_a_warning(tmp_path):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    payload = read_checkpoint(save_checkpoint(vae, tmp_path / "vae.pt", metadata={"epochs": 3}))
    old = {**payload, "version": 1}
    del old["digest"]
    torch.save(old, tmp_path / "old.pt")
    with pytest.warns(RuntimeWarning, match="saved by an older genlearn, without a digest"):
        model, meta = load_checkpoint(tmp_path / "old.pt")
    assert meta == {"epochs": 3} and torch.equal(model.dec[0].weight, vae.dec[0].weight)
    torch.save({**payload, "version": 1}, tmp_path / "claims_1.pt")  # a digest is always checked
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(tmp_path / "claims_1.pt")
    del payload["digest"]
    torch.save(payload, tmp_path / "no_digest.pt")
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(tmp_path / "no_digest.pt")


# The tensors of every shipped checkpoint, hashed (name, dtype, shape and bytes of each, sorted
# by name) from the files the build scripts wrote, before digests were added: the lessons' claims
# were measured on exactly these weights.
SHIPPED_WEIGHTS = {
    "app_market_gan": "d1f3336c38ffd1e8cff910476c953ce6f96c2b12a9985475b28ff21ca0e36dc1",
    "app_phantoms_vae": "e3e72bf34806ff2facd2961e27793d9c71dbe869bbc610d8021add56df29fc22",
    "gan_digits_cgan": "024c10fea11dc5897963ce3438a0e115fe878d970a2edaf648c91219b45eaab9",
    "gan_digits_dcgan": "b6ca06c5aab3b7c2bc410db4355df27f20a5806f4ab7c811ec12a044de83556f",
    "gan_grid_nonsaturating": "761ebc96dcd6f543c396151abd3430ef50e8406fc93c4ec572fea9b6f2d962d6",
    "gan_grid_r1": "ab39b3e50c5e91601c289503f497037531a8936b5b81792804e360d274c9aa6d",
    "gan_grid_wgan-gp": "bbc7f1d1b441d0fd1d8caa9b23b1b802604c1b160e6c50716c07e314ea99cecb",
    "gan_ring_nonsaturating": "b0ba05935ecf52738cb5d121d85dfce4486f50077148c9f9c0559481baed6e34",
    "gan_ring_r1": "1a3c7f1c2cc33e9646b13b40d3525413583976c100a27e86247b209924852463",
    "gan_ring_wgan-gp": "4c1eb9465c776e7d24029725ca48d5de7af4e9e69b996211774b4c7d456a0255",
    "vae_sprites_beta1": "5615ea97438a860f537bad6065584e5917b1f5ff8f7279862dc8199f58615289",
    "vae_sprites_beta4": "22badc5ca4f8881507a21045754e0f6b1f4bb848fed6576820d4f57d3d2167d5",
}


def weights_hash(state: dict) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def test_the_shipped_checkpoints_are_verified_and_hold_the_weights_they_were_built_with(recwarn):
    import warnings

    from genlearn.checkpoints import PRETRAINED_DIR, VERSION, pretrained_path

    assert sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt")) == sorted(SHIPPED_WEIGHTS)
    warnings.simplefilter("error", RuntimeWarning)  # no "without a digest" warning
    for name, expected in SHIPPED_WEIGHTS.items():
        payload = read_checkpoint(pretrained_path(name))
        assert payload["version"] == VERSION and payload["digest"].startswith("sha256:"), name
        assert weights_hash(payload["state_dict"]) == expected, f"{name}: its weights changed"
        model, _ = load_checkpoint(pretrained_path(name))
        assert weights_hash(model.state_dict()) == expected, name
