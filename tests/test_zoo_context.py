"""The context-encoder zoo: encoders, decoders, discriminators and objectives, built through the registry.

Every network here is tiny (width 4, bottleneck 16) so the full cross product trains in seconds. The
full-resolution encoders (`dilated`, `unet`) pair with decoder `conv`, so they join the cross product as
extra pairs.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from inpaintzoo.context_encoder import ContextEncoder, patch_box
from inpaintzoo.errors import UsageError
from inpaintzoo.plugins import load_registry
from inpaintzoo.zoo.losses import GAN, WGAN, WGANGP, NotConfiguredError, gradient_penalty, sample_labels

ENCODERS = ("cnn", "strided", "vgg", "resnet", "inception")
DECODERS = ("deconv", "upconv")
PAIRS = [(e, d) for e in ENCODERS for d in DECODERS] + [("dilated", "conv"), ("unet", "conv")]
DISCRIMINATORS = ("dcgan", "vgg", "resnet", "inception")
ADVERSARIAL = ("gan", "wgan", "wgan-gp")
SIZE, BATCH, OVERLAP = 32, 4, 4
BOX = (12, 12, 8, 8)  # the centred 8x8 hole of a 32x32 image


def tiny_encoder(name: str) -> dict:
    if name in ("dilated", "unet"):
        return {"width": 4}
    extra = {"blocks": 1} if name in ("resnet", "inception") else {}
    return {"width": 4, "bottleneck": 16, **extra}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def hole_mask(batch: int = BATCH, size: int = SIZE, box: tuple[int, int, int, int] = BOX) -> torch.Tensor:
    top, left, h, w = box
    mask = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    mask[..., top : top + h, left : left + w] = True
    return mask


def random_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH, 3, SIZE, SIZE, generator=g), hole_mask()


def build_model(registry, encoder: str = "cnn", decoder: str = "deconv", overlap: int = OVERLAP) -> ContextEncoder:
    enc = registry.build("encoder", encoder, in_channels=4, image_size=SIZE, **tiny_encoder(encoder))
    patch = patch_box(SIZE, BOX, overlap)[2]
    dec = registry.build(
        "decoder", decoder, in_channels=enc.out_channels, in_size=enc.out_size, patch_size=patch, width=4
    )
    return ContextEncoder(enc, dec, SIZE, BOX, overlap=overlap)


def build_critic(registry, name: str = "dcgan", loss: str = "gan", image_size: int = SIZE) -> nn.Module:
    norm = "layer" if loss == "wgan-gp" else "batch"
    return registry.build("discriminator", name, image_size=image_size, width=4, norm=norm)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    """Names of the parameters that an update left exactly as they were."""
    return [name for name, p in module.named_parameters() if torch.equal(p, before[name])]


def stale_critic(critic: nn.Module, before: dict[str, torch.Tensor], loss: str) -> list[str]:
    """Critic parameters an update should have moved but did not.

    A Wasserstein critic's final bias cancels out of E[D(real)] - E[D(fake)] (and out of the gradient
    penalty), so it gets no gradient and is not expected to move.
    """
    exempt = {"score.bias"} if loss.startswith("wgan") else set()
    return [name for name in unchanged(critic, before) if name not in exempt]


def generator_step_index(objective) -> int:
    """A `step` value on which the objective updates the generator too."""
    return getattr(objective, "n_critic", 1) - 1


COMBINATIONS = [(e, d, None, "l2") for e, d in PAIRS] + [
    (e, d, disc, loss) for e, d in PAIRS for disc in DISCRIMINATORS for loss in ADVERSARIAL
]


@pytest.mark.parametrize(("encoder", "decoder", "disc", "loss"), COMBINATIONS)
def test_every_combination_trains_one_step(registry, encoder, decoder, disc, loss):
    torch.manual_seed(0)
    model = build_model(registry, encoder, decoder)
    critic = build_critic(registry, disc, loss) if disc else None
    objective = registry.build("loss", loss)
    assert objective.uses_discriminator == (critic is not None)
    optimizers = objective.configure(model, critic, lr=1e-3, disc_lr=0.0)
    assert set(optimizers) == ({"generator", "discriminator"} if critic else {"generator"})

    images, mask = random_batch()
    patch = model(images, mask)
    assert patch.shape == (BATCH, 3, 16, 16)
    assert patch.min() >= 0 and patch.max() <= 1
    if critic is not None:
        assert critic(model.judged(images, mask, patch, "image")).shape == (BATCH,)

    before_g = snapshot(model)
    before_d = snapshot(critic) if critic else {}
    logs = objective.step(model, critic, images, mask, "image", generator_step_index(objective))

    assert "loss" in logs and all(math.isfinite(v) for v in logs.values()), logs
    assert unchanged(model, before_g) == []
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if critic is not None:
        assert {"d_loss", "g_adv"} <= set(logs)
        assert ("wasserstein" in logs) == loss.startswith("wgan")
        assert stale_critic(critic, before_d, loss) == []
        assert all(torch.isfinite(p).all() for p in critic.parameters())


@pytest.mark.parametrize("loss", ADVERSARIAL)
def test_discriminator_can_judge_the_patch_alone(registry, loss):
    torch.manual_seed(0)
    model = build_model(registry)
    critic = build_critic(registry, "dcgan", loss, image_size=model.patch_size)
    objective = registry.build("loss", loss)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    images, mask = random_batch()
    before = snapshot(critic)
    logs = objective.step(model, critic, images, mask, "patch", generator_step_index(objective))
    assert all(math.isfinite(v) for v in logs.values())
    assert stale_critic(critic, before, loss) == []


@pytest.mark.parametrize("loss", ADVERSARIAL)
def test_discriminator_can_judge_the_local_window(registry, loss):
    torch.manual_seed(0)
    model = build_model(registry, overlap=0)
    assert model.local == (8, 8, 16, 16) and model.judged_size("local") == 16  # the hole grown by half its size
    images, mask = random_batch()
    patch = model(images, mask)
    real, fake = model.judged(images, mask, None, "local"), model.judged(images, mask, patch, "local")
    assert torch.equal(real, images[..., 8:24, 8:24])
    assert torch.equal(fake[..., 4:12, 4:12], patch.detach())
    window_hole = torch.zeros(BATCH, 3, 16, 16, dtype=torch.bool)
    window_hole[..., 4:12, 4:12] = True
    assert torch.equal(fake[~window_hole], real[~window_hole])  # the window's context is the image's
    critic = build_critic(registry, "dcgan", loss, image_size=model.judged_size("local"))
    objective = registry.build("loss", loss)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    before = snapshot(critic)
    logs = objective.step(model, critic, images, mask, "local", generator_step_index(objective))
    assert "g_adv" in logs and all(math.isfinite(v) for v in logs.values())
    assert stale_critic(critic, before, loss) == []


def generator_gradients(objective, model, critic, images, mask) -> list[torch.Tensor]:
    """The generator's parameter gradients from one generator step (an optimiser with lr 0 records them)."""
    objective.optimizers["generator"] = torch.optim.SGD(model.parameters(), lr=0.0)
    torch.manual_seed(5)  # the same dropout masks every call
    objective.generator_step(model, critic, images, mask, model(images, mask), "image")
    return [p.grad.clone() for p in model.parameters()]


def scaled_critic(critic: nn.Module, factor: float) -> nn.Module:
    """The same critic with every score multiplied by `factor` (its last, linear layer scaled)."""
    import copy

    louder = copy.deepcopy(critic)
    with torch.no_grad():
        louder.score.weight.mul_(factor)
        louder.score.bias.mul_(factor)
    return louder


def test_balance_makes_the_generator_update_independent_of_the_critics_scale(registry):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry)
    images, mask = random_batch()
    for balance, same in ((True, True), (False, False)):
        objective = WGAN(alpha=0.5, balance=balance)
        objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
        quiet = generator_gradients(objective, model, critic, images, mask)
        loud = generator_gradients(objective, model, scaled_critic(critic, 1000.0), images, mask)
        close = all(torch.allclose(a, b, rtol=1e-3, atol=1e-7) for a, b in zip(quiet, loud))
        assert close == same, f"balance={balance}"


def test_balance_mixes_equal_pushes_and_alpha_one_is_reconstruction_alone(registry):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry)
    images, mask = random_batch()
    objective = GAN(alpha=1.0, balance=True)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    balanced = generator_gradients(objective, model, critic, images, mask)
    objective.optimizers["generator"] = torch.optim.SGD(model.parameters(), lr=0.0)
    torch.manual_seed(5)
    objective.reconstruction_step(model, images, mask, model(images, mask))
    reconstruction = [p.grad.clone() for p in model.parameters()]
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(balanced, reconstruction))

    # at alpha 0.5 the patch is pushed as hard by the critic as by the reconstruction
    objective = GAN(alpha=0.5, balance=True)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    pushes = []
    patch = model(images, mask)
    patch.register_hook(lambda g: pushes.append(g.clone()))
    logs = objective.generator_step(model, critic, images, mask, patch, "image")
    (g_rec,) = torch.autograd.grad(model.reconstruction_loss(patch, images, mask), patch, retain_graph=True)
    (g_adv,) = torch.autograd.grad(
        objective.generator_adversarial_loss(critic(model.judged(images, mask, patch, "image"))), patch
    )
    assert logs["adv_scale"] == pytest.approx((g_rec.norm() / g_adv.norm()).item(), rel=1e-4)
    adversarial_push = pushes[0] - 0.5 * g_rec
    assert adversarial_push.norm().item() == pytest.approx(0.5 * g_rec.norm().item(), rel=1e-4)


def test_warmup_trains_the_generator_on_reconstruction_alone_then_the_critic_joins(registry):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry, "dcgan", "wgan-gp")
    objective = WGANGP(n_critic=3, warmup=2)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    generator_updates, critic_updates, adversarial = [], [], []
    for step in range(6):
        before_g, before_d = snapshot(model), snapshot(critic)
        logs = objective.step(model, critic, *random_batch(step), "image", step)
        generator_updates.append(not unchanged(model, before_g))
        critic_updates.append(len(unchanged(critic, before_d)) < len(before_d))
        adversarial.append("g_adv" in logs)
        assert math.isfinite(logs["loss"])
    assert generator_updates == [True, True, True, False, False, True]
    assert critic_updates == [False, False, True, True, True, True]
    assert adversarial == [False, False, True, False, False, True]

    # a warm-up step is exactly an L2 step
    objective = GAN(warmup=1)
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    objective.optimizers["generator"] = torch.optim.SGD(model.parameters(), lr=0.0)
    images, mask = random_batch()
    torch.manual_seed(5)
    objective.step(model, critic, images, mask, "image", 0)
    warm = [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(5)
    model.zero_grad(set_to_none=True)
    model.reconstruction_loss(model(images, mask), images, mask).backward()
    assert all(torch.allclose(a, p.grad) for a, p in zip(warm, model.parameters()))
    with pytest.raises(UsageError, match="warmup"):
        registry.build("loss", "gan", warmup=-1)


# ----- encoders


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("size", [16, 64])
def test_encoders_follow_the_image_size(registry, name, size):
    if name == "strided" and size == 16:  # 16 / 8 = 2 cannot feed a stride-4 bottleneck
        with pytest.raises(UsageError, match="divisible by 32"):
            registry.build("encoder", name, in_channels=4, image_size=size, **tiny_encoder(name))
        return
    enc = registry.build("encoder", name, in_channels=4, image_size=size, **tiny_encoder(name)).eval()
    out = enc(torch.rand(2, 4, size, size))
    assert out.shape == (2, 16, enc.out_size, enc.out_size)
    assert enc.out_size == (size // 32 if name == "strided" else 1)


@pytest.mark.parametrize("name", ENCODERS)
def test_encoders_without_bottleneck_hand_over_the_feature_map(registry, name):
    params = {**tiny_encoder(name), "bottleneck": 0}
    enc = registry.build("encoder", name, in_channels=4, image_size=SIZE, **params).eval()
    out = enc(torch.rand(2, 4, SIZE, SIZE))
    assert (enc.out_size, out.shape[-1]) == (SIZE // 8, SIZE // 8)
    assert out.shape[1] == enc.out_channels
    dec = registry.build(
        "decoder", "deconv", in_channels=enc.out_channels, in_size=enc.out_size, patch_size=16, width=4
    )
    assert dec(out).shape == (2, 3, 16, 16)


@pytest.mark.parametrize("name", ENCODERS)
def test_encoders_reject_an_image_size_they_cannot_divide(registry, name):
    with pytest.raises(UsageError, match="divisible"):
        registry.build("encoder", name, in_channels=4, image_size=20, **tiny_encoder(name))


def test_encoder_options_switch_batch_norm_and_dropout(registry):
    plain = registry.build("encoder", "cnn", in_channels=4, image_size=SIZE, batch_norm=False, dropout=0.0)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in plain.modules())
    default = registry.build("encoder", "cnn", in_channels=4, image_size=SIZE)
    norms = [m for m in default.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in default.modules() if isinstance(m, nn.Conv2d)]
    assert len(norms) == len(convs) == 7  # six 3x3 convolutions and the bottleneck, each normalised
    assert all(c.kernel_size == (3, 3) for c in convs[:-1])
    assert [m.p for m in default.modules() if isinstance(m, nn.Dropout)] == [0.5]
    with pytest.raises(UsageError, match="dropout"):
        registry.build("encoder", "cnn", in_channels=4, image_size=SIZE, dropout=1.0)


def test_strided_encoder_has_no_pooling(registry):
    enc = registry.build("encoder", "strided", in_channels=4, image_size=SIZE)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.Linear)) for m in enc.modules())
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 4]
    assert (convs[-2].out_channels, convs[-1].kernel_size) == (256, (4, 4))


def test_dilated_encoder_keeps_the_resolution(registry):
    enc = registry.build("encoder", "dilated", in_channels=4, image_size=SIZE, width=4).eval()
    assert (enc.out_channels, enc.out_size) == (4, SIZE)
    assert enc(torch.rand(2, 4, SIZE, SIZE)).shape == (2, 4, SIZE, SIZE)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1, 1, 2, 4, 8, 1, 1, 1]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 1, 1, 1, 1, 1]  # one halving, undone by the resize
    assert sum(isinstance(m, nn.Upsample) for m in enc.modules()) == 1

    flat = registry.build("encoder", "dilated", in_channels=4, image_size=21, width=4, downsample=False, rates="1,3")
    assert flat.eval()(torch.rand(2, 4, 21, 21)).shape == (2, 4, 21, 21)
    assert not any(isinstance(m, nn.Upsample) for m in flat.modules())
    with pytest.raises(UsageError, match="divisible by 2"):
        registry.build("encoder", "dilated", in_channels=4, image_size=21)
    with pytest.raises(UsageError, match="rates"):
        registry.build("encoder", "dilated", in_channels=4, image_size=SIZE, rates="2,0")


def test_unet_returns_a_full_size_code_with_skips_from_every_level(registry):
    torch.manual_seed(0)  # a 4-wide ReLU net: an unlucky draw of weights (the suite's order) can zero a path
    enc = registry.build("encoder", "unet", in_channels=4, image_size=SIZE, width=4, levels=3, depth=2).eval()
    assert (enc.out_channels, enc.out_size) == (4, SIZE)
    assert enc(torch.rand(2, 4, SIZE, SIZE)).shape == (2, 4, SIZE, SIZE)
    strides = [m.stride[0] for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert strides.count(2) == 3  # down to 4x4
    merges = [up[0][0].in_channels for up in enc.up]  # upsampled features + the skip of that level
    assert merges == [8 + 4, 16 + 8, 32 + 16]
    assert receptive_field(enc).all()  # the 4x4 level sees the whole image
    with pytest.raises(UsageError, match="divisible by 16"):
        registry.build("encoder", "unet", in_channels=4, image_size=24, levels=4)
    with pytest.raises(UsageError, match="at least 1"):
        registry.build("encoder", "unet", in_channels=4, image_size=SIZE, depth=0)


def receptive_field(encoder: nn.Module, size: int = SIZE) -> torch.Tensor:
    """Which input pixels the code's centre cell depends on: (size, size) bool."""
    torch.manual_seed(0)
    x = torch.rand(1, 4, size, size, requires_grad=True)
    encoder.eval()(x)[0, :, size // 2, size // 2].sum().backward()
    return x.grad.abs().sum((0, 1)) > 0


def test_dilation_widens_the_field_over_the_hole(registry):
    """The centre of an 8x8 hole must see past the hole's border; undilated, the same depth sees less."""
    torch.manual_seed(0)
    wide = receptive_field(registry.build("encoder", "dilated", in_channels=4, image_size=SIZE, width=4))
    narrow = receptive_field(
        registry.build("encoder", "dilated", in_channels=4, image_size=SIZE, width=4, rates="1,1,1")
    )
    assert wide.all()  # rates 2, 4, 8 at half resolution reach every pixel of a 32x32 image
    assert narrow.sum() < wide.sum() and narrow[0, 0].item() is False
    assert narrow[10:22, 10:22].all()  # still covers the hole and a band around it


@pytest.mark.parametrize("skip", [True, False])
def test_dilated_encoder_skip_joins_the_stem_to_the_code(registry, skip):
    """With the skip the merge sees the stem's full-resolution features next to the widened ones."""
    enc = registry.build("encoder", "dilated", in_channels=4, image_size=16, width=4, skip=skip).eval()
    assert enc.merge[0].in_channels == (8 if skip else 4)
    x = torch.rand(1, 4, 16, 16)
    assert enc(x).shape == (1, 4, 16, 16)


# ----- decoders


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize(("in_size", "patch"), [(1, 8), (1, 16), (1, 32), (1, 12), (2, 16), (4, 16), (4, 32), (8, 8)])
def test_decoders_reach_the_patch_size(registry, name, in_size, patch):
    dec = registry.build("decoder", name, in_channels=6, in_size=in_size, patch_size=patch, width=4)
    out = dec(torch.randn(2, 6, in_size, in_size) * 10)
    assert out.shape == (2, 3, patch, patch)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", DECODERS)
def test_decoders_refuse_to_shrink(registry, name):
    with pytest.raises(UsageError, match="cannot shrink"):
        registry.build("decoder", name, in_channels=6, in_size=8, patch_size=4)


@pytest.mark.parametrize(("in_size", "patch"), [(32, 16), (32, 8), (16, 16), (20, 4), (9, 1)])
def test_conv_decoder_crops_the_centre_of_a_larger_code(registry, in_size, patch):
    """The cropped-with-margin computation equals running the head over the whole code and cropping its centre."""
    torch.manual_seed(0)
    dec = registry.build("decoder", "conv", in_channels=6, in_size=in_size, patch_size=patch, width=4).eval()
    code = torch.randn(2, 6, in_size, in_size) * 3
    out = dec(code)
    assert out.shape == (2, 3, patch, patch)
    assert out.min() >= 0 and out.max() <= 1
    start = (in_size - patch) // 2
    whole = dec.body(code)[..., start : start + patch, start : start + patch]
    torch.testing.assert_close(out, whole)


def test_conv_decoder_refuses_codes_it_cannot_crop(registry):
    with pytest.raises(UsageError, match="cannot grow"):
        registry.build("decoder", "conv", in_channels=6, in_size=4, patch_size=16)
    with pytest.raises(UsageError, match="even"):
        registry.build("decoder", "conv", in_channels=6, in_size=17, patch_size=16)


def test_conv_decoder_predicts_from_the_patch_region_only(registry):
    """A change to the code far outside the patch (and its margin) leaves the prediction exactly as it was."""
    dec = registry.build("decoder", "conv", in_channels=6, in_size=32, patch_size=16, layers=2).eval()
    code = torch.randn(1, 6, 32, 32)
    changed = code.clone()
    changed[..., :4, :] += 5.0  # rows 0-3; the patch starts at 8 and its margin of 3 at 5
    torch.testing.assert_close(dec(code), dec(changed), rtol=0, atol=0)
    changed[..., 6, 16] += 5.0  # inside the margin: reaches the patch's first row
    assert not torch.equal(dec(code), dec(changed))


def test_dilated_encoder_with_conv_decoder_learns(registry):
    torch.manual_seed(0)
    model = build_model(registry, "dilated", "conv")
    assert (model.encoder.out_size, model.decoder.patch_size) == (SIZE, 16)
    objective = registry.build("loss", "l2")
    objective.configure(model, None, lr=3e-3, disc_lr=0.0)
    images, mask = random_batch()
    losses = [objective.step(model, None, images, mask, "image", step)["loss"] for step in range(30)]
    assert losses[-1] < 0.7 * losses[0]


def test_deconv_uses_transposed_convolutions_and_upconv_resizes(registry):
    deconv = registry.build("decoder", "deconv", in_channels=8, in_size=1, patch_size=16)
    upconv = registry.build("decoder", "upconv", in_channels=8, in_size=1, patch_size=16, mode="bilinear")
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in deconv.modules()) == 3  # stem 1->4, then 4->8->16
    assert sum(isinstance(m, nn.Upsample) for m in upconv.modules()) == 2
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in upconv.modules()) == 1  # the stem only


# ----- discriminators


@pytest.mark.parametrize("name", DISCRIMINATORS)
@pytest.mark.parametrize("size", [8, 16, 64])
def test_discriminators_score_any_image_size(registry, name, size):
    critic = registry.build("discriminator", name, image_size=size, width=4)
    scores = critic(torch.rand(3, 3, size, size))
    assert scores.shape == (3,) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_discriminators_reject_tiny_images_and_unknown_norms(registry, name):
    with pytest.raises(UsageError, match="at least 8"):
        registry.build("discriminator", name, image_size=4)
    with pytest.raises(UsageError, match="norm"):
        registry.build("discriminator", name, image_size=16, norm="instance")


@pytest.mark.parametrize("name", DISCRIMINATORS)
@pytest.mark.parametrize("norm", ["layer", "none"])
def test_critics_without_batch_norm_score_each_example_alone(registry, name, norm):
    """What WGAN-GP needs: an example's score does not depend on the rest of the batch."""
    torch.manual_seed(0)
    critic = registry.build("discriminator", name, image_size=16, width=4, norm=norm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    images = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(critic(images)[:1], critic(images[:1]))


def test_dcgan_discriminator_layout(registry):
    critic = registry.build("discriminator", "dcgan", image_size=SIZE)
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert (convs[-1].kernel_size, convs[-1].out_channels) == ((1, 1), 1)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.Sigmoid, nn.ReLU)) for m in critic.modules())
    assert all(m.negative_slope == 0.2 for m in critic.modules() if isinstance(m, nn.LeakyReLU))


# ----- objectives


def test_wgan_clipping_keeps_every_critic_weight_in_range(registry):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry, "dcgan", "wgan")
    clip = 1 / 16  # exact in float32
    assert max(p.abs().max().item() for p in critic.parameters()) > clip  # clipping has work to do
    objective = WGAN(clip=clip, n_critic=2)
    objective.configure(model, critic, lr=1e-2, disc_lr=0.0)
    for step in range(2):
        objective.step(model, critic, *random_batch(step), "image", step)
        assert max(p.abs().max().item() for p in critic.parameters()) <= clip


@pytest.mark.parametrize("objective", [WGAN(n_critic=3), WGANGP(n_critic=3)], ids=["wgan", "wgan-gp"])
def test_generator_is_updated_only_every_n_critic_calls(registry, objective):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry, "dcgan", "wgan-gp")
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    generator_updates = []
    for step in range(6):
        before_g, before_d = snapshot(model), snapshot(critic)
        logs = objective.step(model, critic, *random_batch(step), "image", step)
        assert len(unchanged(critic, before_d)) < len(before_d)  # a critic update on every call
        generator_updates.append(not unchanged(model, before_g))
        assert ("g_adv" in logs) == generator_updates[-1]
        assert math.isfinite(logs["loss"]) and math.isfinite(logs["wasserstein"])
    assert generator_updates == [False, False, True, False, False, True]


def test_generator_and_critic_updates_leave_each_other_alone(registry):
    torch.manual_seed(0)
    model, critic = build_model(registry), build_critic(registry)
    objective = GAN()
    objective.configure(model, critic, lr=1e-3, disc_lr=1e-3)
    images, mask = random_batch()

    before_g, before_d = snapshot(model), snapshot(critic)
    objective.generator_step(model, critic, images, mask, model(images, mask), "image")
    assert len(unchanged(critic, before_d)) == len(before_d)
    assert all(p.grad is None and p.requires_grad for p in critic.parameters())
    assert unchanged(model, before_g) == []

    model.zero_grad(set_to_none=True)
    before_g, before_d = snapshot(model), snapshot(critic)
    objective.critic_step(model, critic, images, mask, model(images, mask), "image")
    assert len(unchanged(model, before_g)) == len(before_g)
    assert all(p.grad is None for p in model.parameters())
    assert unchanged(critic, before_d) == []


def test_label_sampler_ranges_and_flips():
    def draw(real: bool, flip_rate: float, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return sample_labels(20_000, real, (0.9, 1.1), (0.0, 0.2), flip_rate, g)

    real, fake = draw(True, 0.0), draw(False, 0.0)
    assert real.min() >= 0.9 and real.max() <= 1.1 and abs(real.mean().item() - 1.0) < 0.01
    assert real.max() - real.min() > 0.19  # spread over the whole range, not a constant
    assert fake.min() >= 0.0 and fake.max() <= 0.2 and abs(fake.mean().item() - 0.1) < 0.01
    torch.testing.assert_close(draw(True, 0.3), draw(True, 0.3))  # seeded: reproducible
    assert not torch.equal(draw(True, 0.3, seed=0), draw(True, 0.3, seed=1))

    for real_class in (True, False):
        labels = draw(real_class, 0.3)
        as_fake = labels <= 0.2
        assert (as_fake | (labels >= 0.9)).all()  # every label is in one of the two ranges
        flipped = (as_fake if real_class else ~as_fake).float().mean().item()
        assert abs(flipped - 0.3) < 0.02
    assert (draw(True, 1.0) <= 0.2).all() and (draw(False, 1.0) >= 0.9).all()


def test_gan_uses_soft_labels_from_its_parameters(registry):
    objective = registry.build("loss", "gan", real_low="0.7", real_high="0.8", flip_rate="0")
    labels = objective.labels(1000, True, torch.device("cpu"))
    assert labels.min() >= 0.7 and labels.max() <= 0.8
    with pytest.raises(UsageError, match="alpha"):
        registry.build("loss", "gan", alpha=1.5)
    with pytest.raises(UsageError, match="real_low"):
        registry.build("loss", "gan", real_low=1.2)


def test_gradient_penalty_measures_the_critics_slope():
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    for slope in (1.0, 2.0, 0.5):
        critic = nn.Sequential(nn.Flatten(), nn.Linear(48, 1, bias=False))
        with torch.no_grad():
            critic[1].weight.copy_(torch.randn(1, 48)).div_(critic[1].weight.norm() / slope)
        penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
        assert penalty.item() == pytest.approx((slope - 1) ** 2, abs=1e-5)


def test_objectives_refuse_what_they_cannot_train(registry):
    model = build_model(registry)
    with pytest.raises(UsageError, match="batch norm"):
        WGANGP().configure(model, build_critic(registry, "dcgan", "gan"), lr=1e-3, disc_lr=0.0)
    with pytest.raises(UsageError, match="needs a discriminator"):
        GAN().configure(model, None, lr=1e-3, disc_lr=0.0)
    with pytest.raises(UsageError, match="n_critic"):
        registry.build("loss", "wgan", n_critic=0)
    with pytest.raises(NotConfiguredError):
        registry.build("loss", "l2").step(model, None, *random_batch(), "image", 0)


def test_disc_lr_zero_means_the_generators_rate(registry):
    model, critic = build_model(registry), build_critic(registry)
    optimizers = GAN().configure(model, critic, lr=3e-4, disc_lr=0.0)
    assert optimizers["discriminator"].param_groups[0]["lr"] == 3e-4
    assert optimizers["discriminator"].param_groups[0]["betas"] == (0.5, 0.999)
    optimizers = WGAN().configure(model, critic, lr=3e-4, disc_lr=1e-4)
    assert isinstance(optimizers["discriminator"], torch.optim.RMSprop)
    assert optimizers["discriminator"].param_groups[0]["lr"] == 1e-4


def test_l2_training_lowers_the_reconstruction_loss(registry):
    torch.manual_seed(0)
    model = build_model(registry)
    objective = registry.build("loss", "l2")
    objective.configure(model, None, lr=3e-3, disc_lr=0.0)
    images, mask = random_batch()
    losses = [objective.step(model, None, images, mask, "image", step)["loss"] for step in range(30)]
    assert losses[-1] < 0.7 * losses[0]


# ----- the overlap trick (inpaintzoo.context_encoder)


def test_overlap_patch_covers_hole_and_band_and_paste_keeps_the_context(registry):
    model = build_model(registry, overlap=4)
    assert model.patch == (8, 8, 16, 16)
    images, mask = random_batch()
    patch = model(images, mask)
    assert patch.shape == (BATCH, 3, 16, 16)

    pasted = model.paste(images, mask, patch)
    outside = ~mask.expand_as(images)
    assert torch.equal(pasted[outside], images[outside])
    assert torch.equal(pasted[..., 12:20, 12:20], patch[..., 4:12, 4:12].detach())
    assert torch.equal(model.inpaint(images, mask)[outside], images[outside])

    weights = model.weights(mask)[0, 0]
    assert torch.equal(weights[4:12, 4:12], torch.ones(8, 8))
    band = torch.ones(16, 16, dtype=torch.bool)
    band[4:12, 4:12] = False
    assert (weights[band] == model.overlap_weight).all()


def test_without_overlap_the_patch_is_the_hole(registry):
    model = build_model(registry, overlap=0)
    images, mask = random_batch()
    assert model(images, mask).shape == (BATCH, 3, 8, 8)
    assert model.judged(images, mask, None, "patch").shape == (BATCH, 3, 8, 8)


def test_mirror_averages_the_fill_of_the_mirror_image(registry):
    torch.manual_seed(3)
    model = build_model(registry, "cnn", "deconv").eval()
    images, mask = random_batch(seed=4)
    plain = model.inpaint(images, mask)
    model.mirror = True
    both = model.inpaint(images, mask)
    mirrored = build_model(registry, "cnn", "deconv").eval()
    mirrored.load_state_dict(model.state_dict())
    from_mirror = mirrored.inpaint(images.flip(-1), mask.flip(-1)).flip(-1)
    torch.testing.assert_close(both, 0.5 * (plain + from_mirror))
    assert torch.equal(both[~mask.expand_as(both)], images[~mask.expand_as(images)])  # the context is kept
    with pytest.raises(UsageError, match="centred left to right"):
        ContextEncoder(nn.Identity(), nn.Identity(), SIZE, (12, 4, 8, 8), overlap=0, mirror=True)
