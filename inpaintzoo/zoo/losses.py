"""Training objectives for context encoders: L2 alone, or L2 joined with a GAN, WGAN or WGAN-GP adversary.

An objective owns one training step (see docs/plugins.md): it makes the optimisers in `configure` and
performs the updates in `step`. The adversarial ones minimise `alpha * L_rec + (1 - alpha) * L_adv`
for the generator and alternate with critic updates; what the critic sees comes from
`model.judged(...)` (the whole image with the prediction pasted, or the patch alone).

Defaults and why:

- `gan`: alpha 0.999 (Pathak et al.'s context encoder), Adam(0.5, 0.999) as DCGAN, soft noisy labels
  (real ~ U[0.9, 1.1], fake ~ U[0, 0.2]) with 5% flipped, the non-saturating generator loss.
- `wgan`: alpha 0.99 (a clipped critic's scores are ~1e-2, so its gradient needs a larger share),
  weight clipping at 0.01, 10 critic steps per generator step, RMSProp (momentum would destabilise
  the clipped critic, as the WGAN paper observes).
- `wgan-gp`: alpha 0.999 (an unclipped critic's scores are of the order of the BCE loss), gradient
  penalty 10, 5 critic steps per generator step, Adam(0.5, 0.9); the critic must not use batch norm.

Learning rates come from the engine (`train.lr`, `train.disc_lr`; the WGAN paper used 5e-5).

Two switches every adversarial objective shares:

- `balance`: the raw losses live on unrelated scales (a clipped critic's gradient is ~1e-4 of the L2's,
  the BCE's grows as the discriminator wins), so a fixed alpha means different things per objective and
  over training. With `balance=true` the adversarial gradient at the predicted patch is rescaled to the
  reconstruction gradient's norm before mixing, and alpha becomes the share of the push on the patch
  that comes from the reconstruction (0.5: equal). One backward through each network, as without it.
- `warmup`: steps that train the generator on the reconstruction alone, at L2's cost (no critic
  passes); the critic joins afterwards, so it learns to judge a fill that already has the right
  colours and layout, and the adversary's push only adds the detail L2 averages away.
- `feature_matching`: a weight for the L1 distance between the critic's inner features of the filled and
  the true image, added to the generator's adversarial loss. Without a pretrained perceptual network
  (none is available offline) the critic's own features are the perceptual space: matching them asks
  for the true image's local statistics (edges, texture energy), not only for a score the critic accepts.

For a patch critic that judges the whole image (`disc=patch`, scores `(B, L)`), `gan` with
`hole_patches=true` labels only the patches that see the hole as fake; the patches of a filled image
that see only context are the true pixels and are labelled real (as LaMa does), and the generator is
scored on the hole's patches alone, so the critic's verdict is about the fill, not diluted by context.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from inpaintzoo.engine import precision
from inpaintzoo.engine.optim import adam
from inpaintzoo.errors import UsageError
from inpaintzoo.metrics import bits_per_dim
from inpaintzoo.registry import Collection

if TYPE_CHECKING:
    from inpaintzoo.context_encoder import ContextEncoder

components = Collection()


def sample_labels(
    n: int,
    real: bool,
    real_range: tuple[float, float] = (0.9, 1.1),
    fake_range: tuple[float, float] = (0.0, 0.2),
    flip_rate: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Soft, noisy discriminator targets for `n` examples that are all real (or all fake).

    Each target is drawn uniformly from its class's range; with probability `flip_rate` an example
    gets the other class's target instead, so the discriminator never becomes fully certain.
    """
    where = generator.device if generator is not None else device
    flipped = torch.rand(n, generator=generator, device=where) < flip_rate
    as_real = flipped ^ real
    u = torch.rand(n, generator=generator, device=where)
    real_targets = real_range[0] + u * (real_range[1] - real_range[0])
    fake_targets = fake_range[0] + u * (fake_range[1] - fake_range[0])
    return torch.where(as_real, real_targets, fake_targets).to(device if device is not None else where)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's penalty: mean of (||grad_x critic(x)|| - 1)^2 at random points between real and fake."""
    where = generator.device if generator is not None else real.device
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=where).to(real.device, real.dtype)
    between = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within the block, `module`'s parameters take no gradients (a backward for the other player skips it)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _check_range(name: str, value: float, low: float, high: float, key: str) -> None:
    if not low <= value <= high:
        raise UsageError(f"loss {name!r}: {key} must be in [{low}, {high}], got {value}")


def _check_positive(name: str, value: float, key: str) -> None:
    if value <= 0:
        raise UsageError(f"loss {name!r}: {key} must be positive, got {value}")


class NotConfiguredError(RuntimeError):
    """`step` was called before `configure` made the optimisers (an engine bug, not a user error)."""


class _Objective:
    name = "objective"
    uses_discriminator = False

    def __init__(self) -> None:
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        #: set by the engine for fp16 on CUDA: losses are scaled before backward, steps unscale them
        self.scaler: torch.amp.GradScaler | None = None

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to differentiate: scaled for fp16 (`scaler`), unchanged otherwise."""
        return precision.scaled(loss, self.scaler)

    def step_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """An optimiser step that skips steps with non-finite fp16 gradients and adapts the scale."""
        precision.step_optimizer(optimizer, self.scaler)

    def optimizer(self, role: str) -> torch.optim.Optimizer:
        try:
            return self.optimizers[role]
        except KeyError:
            raise NotConfiguredError(f"loss {self.name!r}: call configure() before step()") from None

    def minimise(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """One optimiser step down `loss`'s gradient (scaled for fp16, skipped where non-finite)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaled(loss).backward()
        self.step_optimizer(optimizer)

    def reconstruction_step(
        self, model: ContextEncoder, images: torch.Tensor, mask: torch.Tensor, patch: torch.Tensor
    ) -> dict[str, float]:
        """One generator update on the reconstruction loss alone (all of `l2`; a warm-up step of the others)."""
        reconstruction = model.reconstruction_loss(patch, images, mask)
        self.minimise(self.optimizer("generator"), reconstruction)
        return {"loss": reconstruction.item()}


@components("loss", "l2")
class L2(_Objective):
    """Reconstruction only: the overlap-weighted L2 of the patch, optimised with Adam."""

    name = "l2"
    uses_discriminator = False

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 0.0) -> None:
        super().__init__()
        _check_range(self.name, beta1, 0.0, 1.0, "beta1")
        _check_range(self.name, beta2, 0.0, 1.0, "beta2")
        self.betas = (beta1, beta2)
        self.weight_decay = weight_decay

    def configure(
        self, model: ContextEncoder, discriminator: nn.Module | None, lr: float, disc_lr: float
    ) -> dict[str, torch.optim.Optimizer]:
        optimizer = adam(model.parameters(), lr=lr, betas=self.betas, weight_decay=self.weight_decay)
        self.optimizers = {"generator": optimizer}
        return self.optimizers

    def step(
        self,
        model: ContextEncoder,
        discriminator: nn.Module | None,
        images: torch.Tensor,
        mask: torch.Tensor,
        judge: str,
        step: int,
    ) -> dict[str, float]:
        model.train()
        return self.reconstruction_step(model, images, mask, model(images, mask))


class Likelihood(_Objective):
    """A density model's objective: its bits/dim, minimised with Adam (not a `loss` choice: density runs use it)."""

    name = "likelihood"
    uses_discriminator = False

    def configure(
        self, model: nn.Module, discriminator: nn.Module | None, lr: float, disc_lr: float
    ) -> dict[str, torch.optim.Optimizer]:
        self.optimizers = {"generator": adam(model.parameters(), lr=lr)}
        return self.optimizers

    def step(
        self,
        model: nn.Module,
        discriminator: nn.Module | None,
        images: torch.Tensor,
        mask: torch.Tensor,
        judge: str,
        step: int,
    ) -> dict[str, float]:
        loss = bits_per_dim(model.nll(images).float().mean(), images)
        self.minimise(self.optimizer("generator"), loss)
        return {"bits_per_dim": loss.item()}


class Adversarial(_Objective):
    """Alternating critic and generator updates; subclasses give the losses and the optimiser.

    Each `step` call makes one critic update; the generator is updated on the calls where
    `(step + 1) % n_critic == 0` (every call when `n_critic` is 1), `step` counting from 0. The first
    `warmup` calls update the generator alone, on the reconstruction loss.
    """

    uses_discriminator = True

    def __init__(
        self, alpha: float, n_critic: int = 1, balance: bool = False, warmup: int = 0, feature_matching: float = 0.0
    ) -> None:
        super().__init__()
        _check_range(self.name, alpha, 0.0, 1.0, "alpha")
        if feature_matching < 0:
            raise UsageError(f"loss {self.name!r}: feature_matching must be 0 or more, got {feature_matching}")
        if n_critic < 1:
            raise UsageError(f"loss {self.name!r}: n_critic must be at least 1, got {n_critic}")
        if warmup < 0:
            raise UsageError(f"loss {self.name!r}: warmup must be 0 or more steps, got {warmup}")
        self.alpha = alpha
        self.n_critic = n_critic
        self.balance = balance
        self.warmup = warmup
        self.feature_matching = feature_matching
        #: whether the losses weigh a patch critic's scores by the hole (`patch_holes`); set by subclasses
        self.hole_patches = False

    # what subclasses provide
    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        raise NotImplementedError

    def critic_loss(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, holes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def generator_adversarial_loss(self, fake_scores: torch.Tensor, holes: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def check_critic(self, critic: nn.Module) -> None:
        """Reject a discriminator this objective cannot train (hook for subclasses)."""

    def after_critic_update(self, critic: nn.Module) -> None:
        """Constrain the critic after its optimiser step (hook for subclasses)."""

    # the shared schedule
    def configure(
        self, model: ContextEncoder, discriminator: nn.Module | None, lr: float, disc_lr: float
    ) -> dict[str, torch.optim.Optimizer]:
        if discriminator is None:
            raise UsageError(f"loss {self.name!r} needs a discriminator: choose one with disc=dcgan (or vgg, ...)")
        self.check_critic(discriminator)
        if self.feature_matching > 0 and not hasattr(discriminator, "features"):
            raise UsageError(
                f"loss {self.name!r}: feature_matching needs a critic that shows its features (disc=patch); "
                "set loss.feature_matching=0 for this one"
            )
        if self.hole_patches and not hasattr(discriminator, "patch_holes"):
            raise UsageError(f"loss {self.name!r}: hole_patches needs a patch critic (disc=patch)")
        self.optimizers = {
            "generator": self.make_optimizer(model.parameters(), lr),
            "discriminator": self.make_optimizer(discriminator.parameters(), disc_lr if disc_lr > 0 else lr),
        }
        return self.optimizers

    def patch_holes(self, critic: nn.Module, mask: torch.Tensor, judge: str, batch: int) -> torch.Tensor | None:
        """`(B, L)` floats, 1 where a patch critic's patch sees the hole; None where the scores are not weighed."""
        if not self.hole_patches or judge != "image" or not hasattr(critic, "patch_holes"):
            return None
        return critic.patch_holes(mask.expand(batch, 1, *mask.shape[-2:]))

    def updates_generator(self, step: int) -> bool:
        return (step + 1) % self.n_critic == 0

    def step(
        self,
        model: ContextEncoder,
        discriminator: nn.Module | None,
        images: torch.Tensor,
        mask: torch.Tensor,
        judge: str,
        step: int,
    ) -> dict[str, float]:
        if discriminator is None:
            raise UsageError(f"loss {self.name!r} needs a discriminator: choose one with disc=dcgan (or vgg, ...)")
        model.train()
        discriminator.train()
        if step < self.warmup:
            return self.reconstruction_step(model, images, mask, model(images, mask))
        if self.updates_generator(step):
            patch = model(images, mask)
            logs = self.critic_step(model, discriminator, images, mask, patch, judge)
            logs.update(self.generator_step(model, discriminator, images, mask, patch, judge))
        else:
            with torch.no_grad():
                patch = model(images, mask)
                reconstruction = model.reconstruction_loss(patch, images, mask)
            logs = self.critic_step(model, discriminator, images, mask, patch, judge)
            logs["loss"] = reconstruction.item()
        return logs

    def critic_step(
        self,
        model: ContextEncoder,
        critic: nn.Module,
        images: torch.Tensor,
        mask: torch.Tensor,
        patch: torch.Tensor,
        judge: str,
    ) -> dict[str, float]:
        """One critic update on real and (detached) fake examples, judged as separate batches."""
        real = model.judged(images, mask, None, judge)
        fake = model.judged(images, mask, patch.detach(), judge)
        loss, logs = self.critic_loss(critic, real, fake, self.patch_holes(critic, mask, judge, len(fake)))
        self.minimise(self.optimizer("discriminator"), loss)
        self.after_critic_update(critic)
        return {"d_loss": loss.item(), **logs}

    def generator_step(
        self,
        model: ContextEncoder,
        critic: nn.Module,
        images: torch.Tensor,
        mask: torch.Tensor,
        patch: torch.Tensor,
        judge: str,
    ) -> dict[str, float]:
        """One generator update on alpha * L_rec + (1 - alpha) * L_adv; the critic is frozen meanwhile.

        With `balance`, the two gradients are mixed at the patch instead, the adversarial one rescaled to the
        reconstruction's norm (`adv_scale` in the logs), and the patch's gradient flows into the generator.
        With `feature_matching`, L_adv also holds that weight times the critic's feature distance (`g_fm`).
        """
        optimizer = self.optimizer("generator")
        with frozen(critic):
            reconstruction = model.reconstruction_loss(patch, images, mask)
            fake = model.judged(images, mask, patch, judge)
            holes = self.patch_holes(critic, mask, judge, len(fake))
            matching = None
            if self.feature_matching > 0:
                fake_scores, matching = self.scores_and_matching(critic, fake, model.judged(images, mask, None, judge))
            else:
                fake_scores = critic(fake)
            adversarial = self.generator_adversarial_loss(fake_scores, holes)
            logs = {"loss": reconstruction.item(), "g_adv": adversarial.item()}
            if matching is not None:
                logs["g_fm"] = matching.item()
                adversarial = adversarial + self.feature_matching * matching
            optimizer.zero_grad(set_to_none=True)
            if self.balance:
                (g_rec,) = torch.autograd.grad(self.scaled(reconstruction), patch, retain_graph=True)
                (g_adv,) = torch.autograd.grad(self.scaled(adversarial), patch, retain_graph=True)
                scale = g_rec.norm() / g_adv.norm().clamp_min(1e-20)
                patch.backward(self.alpha * g_rec + (1 - self.alpha) * scale * g_adv)
                logs["adv_scale"] = scale.item()
            else:
                self.scaled(self.alpha * reconstruction + (1 - self.alpha) * adversarial).backward()
            self.step_optimizer(optimizer)
        return logs

    def scores_and_matching(
        self, critic: nn.Module, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's scores of `fake` and the mean over its inner layers of the L1 distance to `real`'s features."""
        fake_features = critic.features(fake)
        with torch.no_grad():
            real_features = critic.features(real)
        inner = list(zip(fake_features[:-1], real_features[:-1]))
        distances = [(f - r).abs().mean() for f, r in inner]
        matching = torch.stack(distances).mean() if distances else fake.new_zeros(())
        return fake_features[-1].flatten(1), matching


@components("loss", "gan")
class GAN(Adversarial):
    """L2 + GAN: BCE discriminator with soft, noisy, flipped labels; non-saturating generator loss."""

    name = "gan"

    def __init__(
        self,
        alpha: float = 0.999,
        flip_rate: float = 0.05,
        real_low: float = 0.9,
        real_high: float = 1.1,
        fake_low: float = 0.0,
        fake_high: float = 0.2,
        beta1: float = 0.5,
        beta2: float = 0.999,
        balance: bool = False,
        warmup: int = 0,
        feature_matching: float = 0.0,
        hole_patches: bool = False,
    ) -> None:
        super().__init__(alpha, balance=balance, warmup=warmup, feature_matching=feature_matching)
        _check_range(self.name, flip_rate, 0.0, 1.0, "flip_rate")
        _check_range(self.name, beta1, 0.0, 1.0, "beta1")
        _check_range(self.name, beta2, 0.0, 1.0, "beta2")
        if real_low > real_high or fake_low > fake_high:
            raise UsageError(f"loss {self.name!r}: label ranges need real_low <= real_high and fake_low <= fake_high")
        self.flip_rate = flip_rate
        self.real_range = (real_low, real_high)
        self.fake_range = (fake_low, fake_high)
        self.betas = (beta1, beta2)
        self.hole_patches = hole_patches
        #: random source of the labels (None: torch's global generator, seeded by the engine)
        self.generator: torch.Generator | None = None

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        return adam(params, lr=lr, betas=self.betas)

    def labels(self, n: int, real: bool, device: torch.device) -> torch.Tensor:
        return sample_labels(n, real, self.real_range, self.fake_range, self.flip_rate, self.generator, device)

    def critic_loss(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, holes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """BCE on real and fake; with `holes` (B, L), a fake image's patches that miss the hole count as real."""
        real_scores, fake_scores = critic(real), critic(fake)  # separate batches: separate batch statistics

        def labels(scores: torch.Tensor, is_real: bool) -> torch.Tensor:  # a patch critic scores (B, L): one per patch
            drawn = self.labels(len(scores), is_real, scores.device)
            return drawn.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)

        fake_targets = labels(fake_scores, False)
        if holes is not None:
            fake_targets = torch.where(holes > 0, fake_targets, labels(fake_scores, True))
        loss = F.binary_cross_entropy_with_logits(
            real_scores, labels(real_scores, True)
        ) + F.binary_cross_entropy_with_logits(fake_scores, fake_targets)
        with torch.no_grad():
            d_real, d_fake = torch.sigmoid(real_scores.float()).mean(), torch.sigmoid(fake_scores.float())
            d_fake = d_fake.mean() if holes is None else (d_fake * holes).sum() / holes.sum().clamp_min(1)
        logs = {"d_real": d_real.item(), "d_fake": d_fake.item()}
        return loss, logs

    def generator_adversarial_loss(self, fake_scores: torch.Tensor, holes: torch.Tensor | None = None) -> torch.Tensor:
        """-log D(G(x)): maximise the discriminator's belief in the fake (strong gradients early on);
        with `holes`, averaged over the patches that see the hole."""
        if holes is None:
            return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
        each = F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores), reduction="none")
        return (each * holes).sum() / holes.sum().clamp_min(1)


class _Wasserstein(Adversarial):
    """Critic scores without a sigmoid; the critic maximises E[D(real)] - E[D(fake)], the generator E[D(fake)]."""

    def wasserstein_terms(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        estimate = critic(real).mean() - critic(fake).mean()
        return -estimate, {"wasserstein": estimate.item()}

    def generator_adversarial_loss(self, fake_scores: torch.Tensor, holes: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_scores.mean()


@components("loss", "wgan")
class WGAN(_Wasserstein):
    """L2 + WGAN: weight-clipped critic, n_critic critic steps per generator step, RMSProp."""

    name = "wgan"

    def __init__(
        self, alpha: float = 0.99, clip: float = 0.01, n_critic: int = 10, balance: bool = False, warmup: int = 0
    ) -> None:
        super().__init__(alpha, n_critic, balance, warmup)
        _check_positive(self.name, clip, "clip")
        self.clip = clip

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(params, lr=lr)

    def critic_loss(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, holes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        return self.wasserstein_terms(critic, real, fake)

    @torch.no_grad()
    def after_critic_update(self, critic: nn.Module) -> None:
        """Keep every critic weight in [-clip, clip]: a crude Lipschitz bound."""
        for p in critic.parameters():
            p.clamp_(-self.clip, self.clip)


@components("loss", "wgan-gp")
class WGANGP(_Wasserstein):
    """L2 + WGAN-GP: gradient penalty instead of clipping, Adam(0.5, 0.9); needs a critic without batch norm."""

    name = "wgan-gp"

    def __init__(
        self,
        alpha: float = 0.999,
        gp_weight: float = 10.0,
        n_critic: int = 5,
        beta1: float = 0.5,
        beta2: float = 0.9,
        balance: bool = False,
        warmup: int = 0,
    ) -> None:
        super().__init__(alpha, n_critic, balance, warmup)
        if gp_weight < 0:
            raise UsageError(f"loss {self.name!r}: gp_weight must be 0 or more, got {gp_weight}")
        _check_range(self.name, beta1, 0.0, 1.0, "beta1")
        _check_range(self.name, beta2, 0.0, 1.0, "beta2")
        self.gp_weight = gp_weight
        self.betas = (beta1, beta2)

    def check_critic(self, critic: nn.Module) -> None:
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
            raise UsageError(
                "loss 'wgan-gp' penalises each example's gradient, which batch norm couples across the batch: "
                "use a critic without it (disc.norm=layer or disc.norm=none)"
            )

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        return adam(params, lr=lr, betas=self.betas)

    def critic_loss(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, holes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        loss, logs = self.wasserstein_terms(critic, real, fake)
        penalty = gradient_penalty(critic, real, fake)
        logs["gp"] = penalty.item()
        return loss + self.gp_weight * penalty, logs


inpaintzoo_register = components.hook()
