"""The GAN, WGAN and WGAN-GP objectives by value, on cases small enough to work out by hand.

The critic is one weight, D(x) = w * sum(x); the generator is one weight, patch = theta; the real patch is r.
Each expected loss and gradient below is the objective's formula written out for these, so a sign flipped in
a loss, in the mixing of the generator's two losses, or in the penalty fails.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from inpaintzoo.zoo.losses import GAN, WGAN, WGANGP, Adversarial, gradient_penalty

W, THETA, REAL, LR, ALPHA = 0.5, 1.0, 2.0, 0.1, 0.5


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def softplus(x: float) -> float:
    """-log(sigmoid(-x)): BCE-with-logits of a score x against the label 0 (and of -x against 1)."""
    return math.log1p(math.exp(x))


class LinearCritic(nn.Module):
    """D(x) = w * (the sum of each example's values): one score per example, its gradient in x is w everywhere."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x.flatten(1).sum(1)


class ConstantPatch(nn.Module):
    """A generator whose patch is its one weight theta; it judges the patch alone, with an L2 reconstruction."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta))

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.theta.expand_as(images)

    def judged(self, images: torch.Tensor, mask: torch.Tensor, patch: torch.Tensor | None, judge: str) -> torch.Tensor:
        return images if patch is None else patch

    def reconstruction_loss(self, patch: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (patch - images).pow(2).mean()


def exact_gan(**kwargs: float) -> GAN:
    """A GAN objective whose labels are exactly 1 (real) and 0 (fake), never flipped."""
    return GAN(flip_rate=0.0, real_low=1.0, real_high=1.0, fake_low=0.0, fake_high=0.0, **kwargs)


def critic_loss_and_grad(objective: Adversarial, real: list[float], fake: list[float]) -> tuple[float, float, dict]:
    critic = LinearCritic(W)
    as_batch = lambda values: torch.tensor(values).view(-1, 1, 1, 1)  # noqa: E731
    loss, logs = objective.critic_loss(critic, as_batch(real), as_batch(fake))
    loss.backward()
    return loss.item(), critic.w.grad.item(), logs


def test_gan_critic_loss_is_the_bce_of_real_against_1_and_fake_against_0() -> None:
    loss, grad, logs = critic_loss_and_grad(exact_gan(), [REAL], [THETA])
    # -log sigmoid(w r) - log(1 - sigmoid(w theta)) = softplus(-w r) + softplus(w theta)
    assert loss == pytest.approx(softplus(-W * REAL) + softplus(W * THETA), rel=1e-6)  # 1.2873
    # d/dw: -r sigmoid(-w r) + theta sigmoid(w theta)
    assert grad == pytest.approx(-REAL * sigmoid(-W * REAL) + THETA * sigmoid(W * THETA), rel=1e-5)  # 0.0846
    assert logs["d_real"] == pytest.approx(sigmoid(W * REAL)) and logs["d_fake"] == pytest.approx(sigmoid(W * THETA))


def test_gan_generator_loss_is_non_saturating() -> None:
    scores = torch.tensor([0.5, -1.0], requires_grad=True)
    loss = exact_gan().generator_adversarial_loss(scores)
    loss.backward()
    # mean of -log sigmoid(s) = softplus(-s); its gradient -sigmoid(-s) / 2 pushes each score up
    assert loss.item() == pytest.approx((softplus(-0.5) + softplus(1.0)) / 2, rel=1e-6)
    assert scores.grad.tolist() == pytest.approx([-sigmoid(-0.5) / 2, -sigmoid(1.0) / 2], rel=1e-6)


@pytest.mark.parametrize("objective", [WGAN(), WGANGP(gp_weight=0.0)], ids=["wgan", "wgan-gp"])
def test_wasserstein_critic_loss_is_minus_the_score_gap(objective: Adversarial) -> None:
    loss, grad, logs = critic_loss_and_grad(objective, [2.0, 4.0], [1.0, -1.0])
    # -(mean D(real) - mean D(fake)) = -w (3 - 0); d/dw = -3
    assert loss == pytest.approx(-W * 3.0) and grad == pytest.approx(-3.0)
    assert logs["wasserstein"] == pytest.approx(W * 3.0)


def test_wasserstein_generator_loss_is_minus_the_mean_fake_score() -> None:
    scores = torch.tensor([0.5, 1.5], requires_grad=True)
    loss = WGAN().generator_adversarial_loss(scores)
    loss.backward()
    assert loss.item() == pytest.approx(-1.0) and scores.grad.tolist() == pytest.approx([-0.5, -0.5])


def test_gradient_penalty_is_the_squared_distance_of_the_gradient_norm_from_1() -> None:
    # two values per example: the critic's gradient in x is (w, w), of norm sqrt(2) |w| at every interpolate
    critic = LinearCritic(W)
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([[0.0, -1.0], [1.0, 1.0]])
    penalty = gradient_penalty(critic, real.view(2, 2, 1, 1), fake.view(2, 2, 1, 1))
    penalty.backward()
    assert penalty.item() == pytest.approx((math.sqrt(2) * W - 1) ** 2, rel=1e-6)  # 0.0858
    assert critic.w.grad.item() == pytest.approx(2 * (math.sqrt(2) * W - 1) * math.sqrt(2), rel=1e-6)  # -0.828

    loss, grad, logs = critic_loss_and_grad(WGANGP(gp_weight=10.0), [REAL], [THETA])
    # one value per example: -w (r - theta) + 10 (|w| - 1)^2, d/dw = -(r - theta) + 20 (|w| - 1)
    assert loss == pytest.approx(-W * (REAL - THETA) + 10 * (W - 1) ** 2) and logs["gp"] == pytest.approx(0.25)
    assert grad == pytest.approx(-(REAL - THETA) + 20 * (W - 1))


def test_wgan_clips_every_critic_weight_after_its_update() -> None:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -0.3]]))
        critic.bias.fill_(0.004)
    WGAN(clip=0.01).after_critic_update(critic)
    assert critic.weight.tolist()[0] == pytest.approx([0.01, -0.01]) and critic.bias.item() == pytest.approx(0.004)


def one_step(objective: Adversarial) -> tuple[float, float, dict[str, float]]:
    """One `step` (critic update, then generator update) with SGD at LR for both: (w after, theta after, logs)."""
    critic, generator = LinearCritic(W), ConstantPatch(THETA)
    objective.optimizers = {
        "generator": torch.optim.SGD(generator.parameters(), lr=LR),
        "discriminator": torch.optim.SGD(critic.parameters(), lr=LR),
    }
    images = torch.full((1, 1, 1, 1), REAL)
    mask = torch.ones(1, 1, 1, 1, dtype=torch.bool)
    logs = objective.step(generator, critic, images, mask, judge="patch", step=0)  # type: ignore[arg-type]
    return critic.w.item(), generator.theta.item(), logs


def generator_grad(w: float, adversarial_grad: float) -> float:
    """d/dtheta of alpha (theta - r)^2 + (1 - alpha) L_adv, given dL_adv/dtheta."""
    return ALPHA * 2 * (THETA - REAL) + (1 - ALPHA) * adversarial_grad


def test_gan_step_moves_the_critic_and_then_the_generator_by_hand_worked_amounts() -> None:
    w, theta, logs = one_step(exact_gan(alpha=ALPHA))
    w_expected = W - LR * (-REAL * sigmoid(-W * REAL) + THETA * sigmoid(W * THETA))  # 0.49154
    assert w == pytest.approx(w_expected, rel=1e-6)
    # the generator sees the updated critic: L_adv = softplus(-w theta), dL_adv/dtheta = -w sigmoid(-w theta)
    assert logs["g_adv"] == pytest.approx(softplus(-w_expected * THETA), rel=1e-6)
    grad = generator_grad(w_expected, -w_expected * sigmoid(-w_expected * THETA))
    assert theta == pytest.approx(THETA - LR * grad, rel=1e-6)  # 1.11203: towards r and towards "real"
    assert logs["loss"] == pytest.approx((THETA - REAL) ** 2)


@pytest.mark.parametrize(
    ("objective", "w_expected"),
    [
        (WGAN(alpha=ALPHA, clip=10.0, n_critic=1), W + LR * (REAL - THETA)),  # 0.6
        (WGANGP(alpha=ALPHA, gp_weight=10.0, n_critic=1), W - LR * (-(REAL - THETA) + 20 * (W - 1))),  # 1.6
    ],
    ids=["wgan", "wgan-gp"],
)
def test_wasserstein_step_moves_the_critic_and_then_the_generator_by_hand_worked_amounts(
    objective: Adversarial, w_expected: float
) -> None:
    w, theta, logs = one_step(objective)
    assert w == pytest.approx(w_expected, rel=1e-6)
    # L_adv = -w theta, dL_adv/dtheta = -w: the generator raises its score
    assert logs["g_adv"] == pytest.approx(-w_expected * THETA, rel=1e-6)
    assert theta == pytest.approx(THETA - LR * generator_grad(w_expected, -w_expected), rel=1e-6)  # 1.13, 1.18
    assert logs["wasserstein"] == pytest.approx(W * (REAL - THETA), rel=1e-6)  # before the critic's update


# ---- photo critics: a patch critic's scores weighed by the hole, and feature matching ----

class IdentityCritic(nn.Module):
    """Scores = the input's values, one per 'patch': (B, L) scores chosen by the test."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_gan_with_hole_patches_labels_the_fake_image_s_context_patches_real() -> None:
    a, b, c, d = 0.3, -0.7, 1.2, -0.4
    real, fake, holes = torch.tensor([[a, b]]), torch.tensor([[c, d]]), torch.tensor([[1.0, 0.0]])
    loss, _ = exact_gan(hole_patches=True).critic_loss(IdentityCritic(), real, fake, holes)
    # real patches against 1; the fake's hole patch (c) against 0, its context patch (d) against 1
    assert loss.item() == pytest.approx((softplus(-a) + softplus(-b)) / 2 + (softplus(c) + softplus(-d)) / 2, rel=1e-6)
    plain, _ = exact_gan().critic_loss(IdentityCritic(), real, fake)
    assert plain.item() == pytest.approx((softplus(-a) + softplus(-b)) / 2 + (softplus(c) + softplus(d)) / 2, rel=1e-6)


def test_gan_generator_loss_with_hole_patches_averages_the_hole_s_patches_only() -> None:
    scores = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    loss = exact_gan().generator_adversarial_loss(scores, torch.tensor([[1.0, 0.0, 1.0]]))
    loss.backward()
    assert loss.item() == pytest.approx((softplus(-0.5) + softplus(-2.0)) / 2, rel=1e-6)
    assert scores.grad.tolist()[0] == pytest.approx([-sigmoid(-0.5) / 2, 0.0, -sigmoid(-2.0) / 2], rel=1e-6)


def test_patch_holes_are_exactly_the_scores_whose_patch_sees_a_hole_pixel() -> None:
    from inpaintzoo.zoo.discriminators import patch

    torch.manual_seed(0)
    critic = patch(32, width=4, layers=3, norm="none").double()
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[0, 0, 3:5, 20:29] = True
    holes = critic.patch_holes(mask)[0]
    images = torch.rand(1, 3, 32, 32, dtype=torch.double, requires_grad=True)
    scores = critic(images)[0]
    assert holes.shape == scores.shape and 0 < holes.sum() < len(holes)
    for index in range(len(scores)):  # a score depends on a hole pixel iff its patch is marked
        (grad,) = torch.autograd.grad(scores[index], images, retain_graph=True)
        sees_hole = bool((grad.abs().sum(1, keepdim=True)[mask] > 0).any())
        assert sees_hole == bool(holes[index]), index


class FeatureCritic(LinearCritic):
    """LinearCritic that shows its features: the scaled input (inner), then its score map."""

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.w * x, self(x).view(-1, 1, 1, 1)]


def test_feature_matching_adds_the_critic_feature_distance_to_the_generator_s_loss() -> None:
    weight = 3.0
    objective = exact_gan(alpha=ALPHA, feature_matching=weight)
    critic, generator = FeatureCritic(W), ConstantPatch(THETA)
    objective.optimizers = {
        "generator": torch.optim.SGD(generator.parameters(), lr=LR),
        "discriminator": torch.optim.SGD(critic.parameters(), lr=LR),
    }
    images, mask = torch.full((1, 1, 1, 1), REAL), torch.ones(1, 1, 1, 1, dtype=torch.bool)
    logs = objective.step(generator, critic, images, mask, judge="patch", step=0)  # type: ignore[arg-type]
    w = W - LR * (-REAL * sigmoid(-W * REAL) + THETA * sigmoid(W * THETA))  # the critic moves as without matching
    assert critic.w.item() == pytest.approx(w, rel=1e-6)
    # matching = |w theta - w r| = w (r - theta), d/dtheta = -w; added to L_adv with its weight
    assert logs["g_fm"] == pytest.approx(w * (REAL - THETA), rel=1e-6)
    grad = generator_grad(w, -w * sigmoid(-w * THETA) + weight * -w)
    assert generator.theta.item() == pytest.approx(THETA - LR * grad, rel=1e-6)


def test_feature_matching_and_hole_patches_refuse_a_critic_without_them_in_one_line() -> None:
    from inpaintzoo.errors import UsageError

    with pytest.raises(UsageError, match="feature_matching needs a critic") as caught:
        exact_gan(feature_matching=1.0).configure(ConstantPatch(THETA), LinearCritic(W), 1e-3, 0.0)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="hole_patches needs a patch critic"):
        exact_gan(hole_patches=True).configure(ConstantPatch(THETA), LinearCritic(W), 1e-3, 0.0)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="feature_matching must be 0 or more"):
        exact_gan(feature_matching=-1.0)
