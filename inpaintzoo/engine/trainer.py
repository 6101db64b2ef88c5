"""One training loop for every model: context encoders (any objective) and density models.

A run directory holds `config.json`, `metrics.jsonl` (one JSON record per log line), `checkpoints/`
(`last.pt` every epoch, `best.pt` at the best validation score), `grids/` (a PNG per epoch:
context | prediction | truth) and `curves.png`.
Data order, masks and every random generator are seeded from `train.seed` and saved in checkpoints,
so `resume` continues exactly where the run stopped.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from inpaintzoo.config import PROVENANCE_KEY, ModelSettings, TrainSettings, provenance, save_config
from inpaintzoo.data.augment import Augment, FlipShift, arrange_batch
from inpaintzoo.engine.build import build_dataset, build_mask, holdout, image_size, resolve_device
from inpaintzoo.engine.checkpoint import load_checkpoint, load_module_state, save_checkpoint
from inpaintzoo.engine.distributed import Distributed
from inpaintzoo.engine.ema import EMA, recalibrate_batch_norm
from inpaintzoo.engine.optim import cooldown_factor, scaled_lr
from inpaintzoo.engine.precision import (
    autocast,
    check_precision,
    grad_scaler,
    to_channels_last,
)
from inpaintzoo.engine.preflight import check_config, check_memory, effective_batch_size
from inpaintzoo.engine.progress import Progress
from inpaintzoo.engine.tensorboard import TensorBoardLog
from inpaintzoo.engine.tensorboard import check_available as check_tensorboard
from inpaintzoo.errors import InpaintzooError, RunDirError, UsageError
from inpaintzoo.families import Models, family_of
from inpaintzoo.files import atomic_path
from inpaintzoo.registry import Registry
from inpaintzoo.viz import save_curves, save_grid

LOG_EVERY = 25  # steps between step records in metrics.jsonl
PREVIEW = 8  # images in each PNG grid
ROLLBACK_LR_FACTOR = 0.5  # learning-rate factor after each rollback from a divergence


class Diverged(Exception):
    """A NaN or Inf appeared in a loss or the weights (handled inside the loop by a rollback)."""


class DivergedError(InpaintzooError):
    """Training kept diverging after the allowed rollbacks."""


def weights_finite(state: dict[str, Any]) -> bool:
    """Every floating-point tensor of the model, discriminator and EMA weights is finite."""
    for key in ("model", "discriminator", "ema_weights"):
        for tensor in (state.get(key) or {}).values():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return False
    return True


@contextmanager
def stop_signals(trainer: Trainer) -> Iterator[None]:
    """SIGINT/SIGTERM ask the trainer to stop after the current step; a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if trainer.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop_signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def start_from(model: torch.nn.Module, run_dir: Path) -> None:
    """Load another run's weights into `model` (its moving average where it kept one, as eval uses), to fine-tune:
    an L2 photo model before adversarial training, say. The architectures must match."""
    for name in ("best.pt", "last.pt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            break
    else:
        raise RunDirError(f"train.init_from={run_dir}: no checkpoints/best.pt or last.pt there; give a run directory")
    state = load_checkpoint(path)
    weights = state["ema_weights"] if state.get("ema_weights") is not None else state["model"]
    try:
        load_module_state(model, weights, "model")
    except RunDirError as exc:
        raise RunDirError(f"train.init_from={run_dir}: {exc}") from None


def run_name(config: dict[str, Any]) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + "-".join(family_of(config).run_name_parts(config))


def record_data_source(config: dict[str, Any], dataset: Any) -> None:
    """Put the folder the data came from into `data.root`, absolute, when the dataset takes a root.

    `eval` and `inpaint` then find the same files from another shell or folder, without
    `$INPAINTZOO_DATA`; `eval --data-root` overrides it.
    """
    data = config["data"]
    if "root" not in data:
        return
    source = getattr(dataset, "source", None) or data["root"]
    if source:
        data["root"] = str(Path(source).expanduser().resolve())


def without_root(section: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if section is None else {k: v for k, v in section.items() if k != "root"}


def to_float(images_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    return images_u8.to(device, non_blocking=True).float().div_(255.0)


class Trainer:
    """Trains the model a config describes, writing everything to its run directory."""

    def __init__(
        self,
        config: dict[str, Any],
        registry: Registry | None = None,
        run_dir: Path | None = None,
        progress: bool = True,
    ) -> None:
        if registry is None:
            from inpaintzoo.plugins import default_registry

            registry = default_registry()
        self.registry = registry
        self.config = config  # the run config as saved (config.json and checkpoints)
        self.settings = TrainSettings.from_json(config["train"])  # typed; older configs' missing keys: defaults
        # what a critic judges (context encoders; a density config has no `model` group)
        self.judge = ModelSettings.from_json(config["model"]).judge if config.get("model") is not None else "image"
        device = resolve_device(self.settings.device)
        self.dist = Distributed.from_env(device)
        self.device = self.dist.device_for(device)
        self.progress = progress and self.dist.is_main
        name = run_dir or Path(self.settings.out) / (self.settings.name or run_name(config))
        self.run_dir = Path(self.dist.from_main(str(name)))  # one timestamped name for every process
        self.ckpt_dir = self.run_dir / "checkpoints"
        # every check that needs no data, before anything is allocated or written (`inpaintzoo config` runs it too)
        self.planned = check_config(config, registry, device=self.device, new_run=run_dir is None)

        torch.manual_seed(self.settings.seed)
        self.mask = build_mask(config, registry)
        self.family = family_of(config)
        self.models: Models = self.family.build_models(config, registry, self.mask)
        self.model = self.models.model.to(self.device)
        if self.settings.init_from and run_dir is None:  # a resumed run has weights of its own
            start_from(self.model, Path(self.settings.init_from))
        self.disc = self.models.discriminator.to(self.device) if self.models.discriminator is not None else None
        self.precision = check_precision(self.settings.precision, self.device)
        self.channels_last = self.settings.channels_last
        if self.channels_last:
            for module in (self.model, self.disc):
                if module is not None:
                    to_channels_last(module)
        self.scaler = grad_scaler(self.device, self.precision)
        disc_lr = self.settings.disc_lr or self.settings.lr
        self.optimizers = self.models.objective.configure(self.model, self.disc, self.settings.lr, disc_lr)
        self.models.objective.scaler = self.scaler  # the `Objective` contract: set for fp16 on CUDA
        for module in (self.model, self.disc):
            if module is not None:
                self.dist.broadcast_module(module)
        for opt in self.optimizers.values():
            self.dist.average_gradients_before_step(opt)
        self.schedulers = {
            k: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.settings.lr_decay)
            for k, opt in self.optimizers.items()
        }
        self.ema = EMA(self.model, self.settings.ema) if self.settings.ema > 0 else None
        self.augment = Augment() if self.settings.augment else None

        train_set = build_dataset(config, "train", registry)
        record_data_source(config, train_set)
        self.train_images, self.val_images = holdout(train_set.images, self.settings)
        if self.settings.tensorboard:
            check_tensorboard()  # before the run directory exists
        self.tensorboard: TensorBoardLog | None = None
        self.overwrite = False  # set by `train --overwrite`: replace an existing run directory
        if 2 * self.settings.shift >= image_size(config):
            raise UsageError(
                f"train.shift={self.settings.shift} reflects more than half of a {image_size(config)}px image: "
                f"use at most {(image_size(config) - 1) // 2}"
            )
        if self.train_images.shape[-1] != image_size(config):
            raise UsageError(
                f"data.{config['data']['name']} gives {self.train_images.shape[-1]}px images but data.image_size="
                f"{image_size(config)}"
            )
        height, width = self.train_images.shape[-2:]
        self.flip_shift = FlipShift(height, width, self.settings.hflip, self.settings.shift)
        self.settings.batch_size = effective_batch_size(
            self.settings,
            len(self.train_images),
            self.dist.world,
            self.models,
            fits=lambda batch: check_memory(self.planned, config, registry, self.device, batch),
        )
        config["train"]["batch_size"] = self.settings.batch_size  # config.json records the batch size trained with
        self.global_batch = self.settings.batch_size * self.dist.world
        # drop the last incomplete batch: a batch of one breaks batch norm on a 1x1 bottleneck
        self.steps_per_epoch = max(1, len(self.train_images) // self.global_batch)

        self.epoch = 0  # epochs completed
        self.step = 0  # optimiser steps taken
        self.position = 0  # batches done in the current epoch
        self.best: float = math.inf
        self.stale = 0  # epochs since the best validation score
        self.rollbacks = 0  # times the run went back to its last good state after diverging
        self.good_state: dict[str, Any] | None = None  # that state, in memory
        self.stop_signal: int | None = None  # SIGINT/SIGTERM received: stop after this step
        self.stop_reason: str | None = None  # why the run ended before train.epochs (None: it did not)
        self.stepped = False  # this process took an optimiser step (a failure before one removes the run directory)
        self.made: Path | None = None  # the topmost folder create_run_dir made
        self.mask_rng = torch.Generator().manual_seed(self.settings.seed * 7919 + 1)
        self.aug_rng = torch.Generator().manual_seed(self.settings.seed * 7919 + 2)
        self.calibrated_step = -1  # the step at which the averaged model's batch norm was last measured

    # -- run directory ----------------------------------------------------------------------------

    def create_run_dir(self) -> None:
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RunDirError(f"{self.run_dir} is a file, not a run directory: choose another train.name")
        exists = self.run_dir.exists() and any(self.run_dir.iterdir())
        self.dist.barrier()  # every process looks before the main process creates it
        if exists and not self.overwrite:
            raise RunDirError(
                f"run directory {self.run_dir} already exists: continue it with --resume {self.run_dir}, "
                "replace it with --overwrite, or choose another train.name"
            )
        if exists and not (self.run_dir / "config.json").is_file():
            raise RunDirError(f"{self.run_dir} is not a run directory (no config.json): --overwrite will not delete it")
        if self.dist.is_main:
            if exists:
                shutil.rmtree(self.run_dir)
            self.made = next((p for p in reversed([self.run_dir, *self.run_dir.parents]) if not p.exists()), None)
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.save_run_config()
            except OSError as exc:
                self.remove_run_dir()
                raise RunDirError(f"cannot create the run directory {self.run_dir}: {exc.strerror or exc}") from None
        self.dist.barrier()

    def remove_run_dir(self) -> None:
        """Undo `create_run_dir` after a failure before the first step: no directory holding only config.json.

        Removes the topmost folder it created; a folder that already existed (empty) is emptied instead.
        """
        if not self.dist.is_main:
            return
        if self.made is not None:
            shutil.rmtree(self.made, ignore_errors=True)
        elif self.run_dir.is_dir():
            for child in self.run_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def save_run_config(self) -> None:
        """config.json: the run config plus the plugin and version each component came from."""
        record = {**self.config, PROVENANCE_KEY: provenance(self.config, self.registry)}
        save_config(record, self.run_dir / "config.json")

    def log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.settings.tensorboard:
            if self.tensorboard is None:
                self.tensorboard = TensorBoardLog(self.run_dir)
            self.tensorboard.record(record)

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "model": self.model.state_dict(),
            "discriminator": self.disc.state_dict() if self.disc is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "ema_weights": self.ema.weights() if self.ema is not None else None,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "objective": getattr(self.models.objective, "state_dict", dict)(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "mask": self.mask_rng.get_state(),
                "augment": self.aug_rng.get_state(),
            },
            "epoch": self.epoch,
            "step": self.step,
            "position": self.position,
            "best": self.best,
            "stale": self.stale,
            "rollbacks": self.rollbacks,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_module_state(self.model, state["model"], "model")
        if self.disc is not None:
            load_module_state(self.disc, state["discriminator"], "discriminator")
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        if hasattr(self.models.objective, "load_state_dict") and state.get("objective"):
            self.models.objective.load_state_dict(state["objective"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.mask_rng.set_state(state["rng"]["mask"])
        self.aug_rng.set_state(state["rng"]["augment"])
        self.epoch, self.step, self.position = state["epoch"], state["step"], state["position"]
        self.best, self.stale = state["best"], state["stale"]
        self.rollbacks = state.get("rollbacks", 0)

    def save(self, name: str = "last.pt") -> None:
        """Checkpoint (main process) and remember the state as the last good one (every process).

        A state with a NaN or Inf weight is never written: it triggers a rollback instead.
        """
        self.eval_model()  # export the averaged weights with their own batch-norm statistics
        state = self.state_dict()
        if not weights_finite(state):
            raise Diverged("non-finite weights")
        self.good_state = copy.deepcopy(state)
        if self.dist.is_main:
            save_checkpoint(state, self.ckpt_dir / name)

    def resume(self) -> None:
        state = load_checkpoint(self.ckpt_dir / "last.pt")
        # data.root may move (a copy elsewhere; runs from before it was recorded hold "")
        saved = {**state["config"], "data": without_root(state["config"].get("data"))}
        current = {**self.config, "data": without_root(self.config.get("data"))}
        changed = [k for k in current if k != "train" and saved.get(k) != current[k]]
        if changed:
            raise RunDirError(
                f"the checkpoint in {self.run_dir} was written with another {changed[0]} config; "
                "only train.* settings may change on --resume"
            )
        self.load_state_dict(state)
        self.good_state = state
        if self.dist.is_main:
            self.save_run_config()
            self.drop_records_after(int(state["step"]))

    def drop_records_after(self, step: int) -> None:
        """Forget metrics.jsonl's records past the checkpoint's `step`: the resumed run replays those steps and
        logs them again, so the file ends as an uninterrupted run's would (each record once)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            with atomic_path(path) as tmp:
                tmp.write_text("".join(line + "\n" for line in kept))

    # -- steps ------------------------------------------------------------------------------------

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The shuffled order of training images in `epoch`: a function of the seed and epoch only."""
        g = torch.Generator().manual_seed(self.settings.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.train_images), generator=g)

    def fetch(self, rows: torch.Tensor) -> torch.Tensor:
        """The training batch of these rows of the training images, augmented, on the device, in the model's layout.

        Mirrored and shifted (new content under the hole: the context encoders overfit without it) in the same
        indexing that takes the rows from the stored uint8 images, so the augmentation costs about what the
        plain fetch does. The study's colour jitter works on floats and draws first.
        """
        images = self.train_images[rows]
        if self.augment is None:
            moves = self.flip_shift.draw(len(rows), self.aug_rng)
            return to_float(arrange_batch(images, moves, self.channels_last), self.device)
        images = self.augment(to_float(images, self.device), generator=self.aug_rng)
        return arrange_batch(images, self.flip_shift.draw(len(rows), self.aug_rng), self.channels_last)

    def lr_factor(self) -> float:
        """The cooldown's multiplier of the scheduled rate for the next step (1 outside a cooldown)."""
        return cooldown_factor(self.step, self.settings.max_steps, self.settings.cooldown_steps)

    def train_step(self, images: torch.Tensor) -> dict[str, float]:
        """One optimiser step on a batch `fetch` made."""
        mask = self.mask(images.shape[0], generator=self.mask_rng).to(self.device)
        self.model.train()
        with scaled_lr(self.optimizers.values(), self.lr_factor()), autocast(self.device, self.precision):
            if self.disc is not None:
                self.disc.train()
            logs = self.models.objective.step(self.model, self.disc, images, mask, self.judge, self.step)
        if self.ema is not None:
            self.ema.update(self.model)
        return logs

    def eval_model(self) -> torch.nn.Module:
        """The model to evaluate and export: the moving average (its batch norm measured afresh), or the live one."""
        if self.ema is None:
            return self.model.eval()
        if self.calibrated_step != self.step and self.family.recalibrates_ema:
            self.recalibrate_ema()
            self.calibrated_step = self.step
        return self.ema.shadow.eval()

    def recalibrate_ema(self) -> None:
        """Batch-norm statistics of the averaged weights on `train.bn_batches` fixed training batches.

        The statistics the EMA copies from the live model belong to other weights; measured again they cut
        the hole MSE of short CPU runs by 30-180 and make consecutive evaluations agree."""
        assert self.ema is not None
        g = torch.Generator().manual_seed(self.settings.seed * 7919 + 3)
        batch = self.settings.batch_size
        order = iter(torch.randperm(len(self.train_images), generator=g).split(batch))

        def forward(model: torch.nn.Module) -> None:
            x = to_float(self.train_images[next(order)], self.device)
            model(x, self.mask(x.shape[0], generator=g).to(self.device), generator=g)

        batches = min(self.settings.bn_batches, len(self.train_images) // batch)
        recalibrate_batch_norm(self.ema.shadow, forward, batches)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation score of the held-out slice (lower is better): hole L2, or bits/dim."""
        model = self.eval_model()
        g = torch.Generator().manual_seed(12345)
        batch = self.settings.batch_size

        def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # one batch on the device at a time
            for i in range(0, len(self.val_images), batch):
                x = to_float(self.val_images[i : i + batch], self.device)
                yield x, self.mask(x.shape[0], generator=g).to(self.device)

        return self.family.validate(model, batches())

    @torch.no_grad()
    def write_grid(self, path: Path) -> None:
        model = self.eval_model()
        n = len(self.val_images)  # spread over the held-out slice: an ordered dataset's neighbours look alike
        x = to_float(self.val_images[torch.linspace(0, n - 1, min(PREVIEW, n)).round().long()], self.device)
        mask = self.mask(x.shape[0], generator=torch.Generator().manual_seed(12345)).to(self.device)
        filled = self.family.preview_fill(model, x, mask)
        context = torch.where(mask, torch.ones_like(x), x)
        save_grid([context.cpu(), filled.cpu(), x.cpu()], path, labels=["context", "prediction", "truth"])

    # -- loop -------------------------------------------------------------------------------------

    def fit(self, resume: bool = False, on_start: Callable[[Path], None] | None = None) -> Path:
        """Train until `train.epochs`, `train.max_steps`, `train.max_minutes`, early stopping or a signal.

        `on_start` is called with the run directory once it is created (or its checkpoint loaded).
        SIGINT/SIGTERM finish the current step, write a checkpoint and return (`stop_signal` says which).
        """
        if resume:
            self.resume()
        else:
            self.create_run_dir()
        try:
            if not resume:
                self.good_state = copy.deepcopy(self.state_dict())
            self.train_loop(on_start)
        except BaseException:
            if not resume and not self.stepped:  # nothing trained: leave no directory holding only config.json
                self.remove_run_dir()
            raise
        return self.run_dir

    def train_loop(self, on_start: Callable[[Path], None] | None) -> None:
        """The epochs of `fit`, then the final grid and curves; `stop_reason` says why it ended early."""
        self.started = time.perf_counter()
        if on_start is not None:
            on_start(self.run_dir)
        s = self.settings
        with stop_signals(self), Progress(enabled=self.progress) as bar:
            while self.epoch < s.epochs and not self.should_stop():
                order = self.epoch_order(self.epoch)
                task = bar.task(
                    f"epoch {self.epoch + 1}/{s.epochs}", total=self.steps_per_epoch, completed=self.position
                )
                started, seen = time.perf_counter(), 0
                try:
                    while self.position < self.steps_per_epoch and not self.should_stop():
                        idx = self.dist.shard(order[self.position * self.global_batch :][: self.global_batch])
                        logs = self.checked_step(self.fetch(idx))
                        seen += len(idx) * self.dist.world
                        rate = seen / max(time.perf_counter() - started, 1e-9)
                        info = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
                        bar.advance(task, info=f"{info}  {rate:.0f} img/s")
                        if self.step % LOG_EVERY == 0:
                            self.log({"kind": "step", "epoch": self.epoch + 1, "step": self.step, **logs})
                    if self.position >= self.steps_per_epoch:
                        self.end_epoch(rate=seen / max(time.perf_counter() - started, 1e-9))
                except Diverged as why:
                    self.roll_back(str(why), bar)
                    continue
                if s.patience and self.stale >= s.patience:
                    self.stop_reason = f"early stopping: no better validation score in {s.patience} epochs"
                    break
            if self.stop_reason is None and self.epoch < s.epochs:
                self.stop_reason = self.why_stopped()
            if self.position or self.stop_signal is not None:  # stopped mid-epoch: keep the exact position
                self.stop_midway()
        self.finish()

    def why_stopped(self) -> str:
        """The budget or signal that ended the run before `train.epochs`, as a line for the user."""
        where = f"at step {self.step} (epoch {self.epoch + 1}, batch {self.position}/{self.steps_per_epoch})"
        if not self.position:
            where = f"at step {self.step}, after epoch {self.epoch}"
        if self.stop_signal is not None:
            return f"stopped by {signal.Signals(self.stop_signal).name} {where}"
        if self.settings.max_steps and self.step >= self.settings.max_steps:
            return f"stopped {where}: train.max_steps={self.settings.max_steps} reached"
        return f"stopped {where}: train.max_minutes={self.settings.max_minutes:g} used up"

    def stop_midway(self) -> None:
        """A stop inside an epoch: validate the weights it has, checkpoint them, keep best.pt by the usual rule.

        The epoch is not counted as done (a resumed run finishes it); only `best` may move.
        """
        val = self.validate()
        if self.dist.any(not math.isfinite(val["score"])):
            self.stop_reason = f"{self.stop_reason}; the validation score is {val['score']}: no checkpoint written"
            return
        improved = val["score"] < self.best
        if improved:
            self.best = val["score"]
        self.log(
            {
                "kind": "stop",
                "epoch": self.epoch + 1,
                "step": self.step,
                "reason": self.stop_reason,
                **{k: v for k, v in val.items() if k != "score"},
            }
        )
        try:
            self.save()
            if improved:
                self.save("best.pt")
        except Diverged as why:
            self.stop_reason = f"{self.stop_reason}; {why}: no checkpoint written"

    def outputs(self) -> list[str]:
        """The files and folders this run directory holds, named as the `done:` line lists them."""
        names = ["config.json", "metrics.jsonl", "checkpoints/last.pt", "checkpoints/best.pt", "grids/"]
        names += ["grid.png", "curves.png"]
        return [n for n in names if (self.run_dir / n.rstrip("/")).exists()]

    def checked_step(self, images: torch.Tensor) -> dict[str, float]:
        """One optimiser step; a NaN or Inf loss on any process raises Diverged."""
        logs = self.train_step(images)
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if self.dist.any(bool(bad)):
            raise Diverged(f"{bad[0]} is {logs[bad[0]]}" if bad else "a loss is not finite on another process")
        self.step += 1
        self.position += 1
        self.stepped = True
        return logs

    def roll_back(self, why: str, bar: Progress) -> None:
        """Go back to the last good state with a lower learning rate, a bounded number of times."""
        assert self.good_state is not None
        count = self.rollbacks + 1
        if count > self.settings.max_rollbacks:
            raise DivergedError(
                f"training diverged at step {self.step} ({why}) after {self.settings.max_rollbacks} rollbacks "
                f"with lower learning rates; the last good checkpoint is in {self.ckpt_dir}: lower train.lr"
            )
        failed_step = self.step
        self.load_state_dict(copy.deepcopy(self.good_state))
        factor = ROLLBACK_LR_FACTOR ** (count - self.good_state.get("rollbacks", 0))
        for opt, sched in zip(self.optimizers.values(), self.schedulers.values()):
            for group in opt.param_groups:
                group["lr"] *= factor
            sched.base_lrs = [lr * factor for lr in sched.base_lrs]
        self.rollbacks = count
        lr = next(iter(self.optimizers.values())).param_groups[0]["lr"]
        self.log({"kind": "rollback", "step": failed_step, "to_step": self.step, "why": why, "lr": lr})
        bar.print(f"diverged at step {failed_step} ({why}): back to step {self.step} with lr {lr:.3g}")

    def should_stop(self) -> bool:
        """Agreed by every process: a signal arrived, or a step or time budget is used up."""
        return self.dist.any(self.stop_signal is not None or self.out_of_steps())

    def out_of_steps(self) -> bool:
        """True once `train.max_steps` or the `train.max_minutes` budget is used up."""
        if self.settings.max_steps and self.step >= self.settings.max_steps:
            return True
        budget = self.settings.max_minutes * 60
        return bool(budget) and time.perf_counter() - self.started >= budget

    def end_epoch(self, rate: float) -> None:
        self.epoch += 1
        self.position = 0
        val = self.validate()
        if self.dist.any(not math.isfinite(val["score"])):
            raise Diverged(f"the validation score is {val['score']}")
        for sched in self.schedulers.values():
            sched.step()
        improved = val["score"] < self.best
        if improved:
            self.best, self.stale = val["score"], 0
        else:
            self.stale += 1
        lr = next(iter(self.optimizers.values())).param_groups[0]["lr"]
        lr *= self.lr_factor()
        self.log(
            {
                "kind": "epoch",
                "epoch": self.epoch,
                "step": self.step,
                "img_per_s": rate,
                "lr": lr,
                **{k: v for k, v in val.items() if k != "score"},
            }
        )
        every = self.settings.grid_every
        if every and self.epoch % every == 0 and self.dist.is_main:
            self.write_grid(self.run_dir / "grids" / f"epoch_{self.epoch:03d}.png")
            if self.tensorboard is not None:
                self.tensorboard.image("grid", self.run_dir / "grids" / f"epoch_{self.epoch:03d}.png", self.step)
        self.save()
        if improved:
            self.save("best.pt")

    def finish(self) -> None:
        """Final grid and training curves (main process), then leave the process group."""
        if not self.dist.is_main:
            self.dist.close()
            return
        self.dist.close()
        self.write_grid(self.run_dir / "grid.png")
        records = (
            [json.loads(line) for line in (self.run_dir / "metrics.jsonl").read_text().splitlines()]
            if (self.run_dir / "metrics.jsonl").exists()
            else []
        )
        if records:
            keys = list(self.family.curve_keys)
            save_curves(records, self.run_dir / "curves.png", keys=keys, title=self.run_dir.name)
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


def train(
    overrides: list[str] | dict[str, Any] = (),
    registry: Registry | None = None,
    progress: bool = False,
    resume: str | Path | None = None,
) -> Path:
    """Train from `key=value` overrides (or a resolved config dict); returns the run directory.

    With `resume`, continue the run in that directory from its last checkpoint.
    """
    from inpaintzoo.config import check_plugins, load_config, resolve_config

    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.json").is_file():
            raise RunDirError(f"{run_dir} is not a run directory (no config.json)")
        base = load_config(run_dir / "config.json")
        if registry is None:
            from inpaintzoo.plugins import default_registry

            registry = default_registry()
        check_plugins(base, registry)
        config = resolve_config(overrides if isinstance(overrides, list) else (), registry, base=base)
        return Trainer(config, registry, run_dir=run_dir, progress=progress).fit(resume=True)
    config = overrides if isinstance(overrides, dict) else resolve_config(overrides, registry)
    return Trainer(config, registry, progress=progress).fit()
