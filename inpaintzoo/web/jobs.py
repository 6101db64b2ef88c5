"""Fill jobs: one image and mask filled by several models in turn, on a worker thread, with progress.

A job is what one press of "fill" asks for. Its results appear one model at a time, each with its fill
time; a page polls the job to show progress. Cancelling works at the next call of any network module:
a forward pre-hook (installed once, for the whole process) looks at the thread's running job and stops
it with `FillCancelled`. Density models fill sub-pixel by sub-pixel through many such calls, so a long
density fill stops within a step; the count of calls is the progress a page shows while one runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from inpaintzoo.decoding import decoding_kwargs
from inpaintzoo.errors import InpaintzooError
from inpaintzoo.metrics import psnr_from_mse
from inpaintzoo.photos import inpaint_photo
from inpaintzoo.web.inputs import WebInputError, encode_png
from inpaintzoo.web.models import ServedModel

log = logging.getLogger("inpaintzoo.web")
FINISHED = ("done", "error", "cancelled")


class FillCancelled(Exception):
    """Raised inside a fill whose job was cancelled."""


class Control:
    """A running fill's cancel flag and its step counter (calls of network modules so far)."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.steps = 0


_local = threading.local()
_hook_lock = threading.Lock()
_hook: Any = None


def _on_forward(module: nn.Module, args: Any) -> None:
    control: Control | None = getattr(_local, "control", None)
    if control is not None:
        control.steps += 1
        if control.cancelled.is_set():
            raise FillCancelled()


def install_cancel_hook() -> None:
    """Register the process-wide forward pre-hook once; it costs one attribute look-up per module call."""
    global _hook
    with _hook_lock:
        if _hook is None:
            _hook = nn.modules.module.register_module_forward_pre_hook(_on_forward)


def fill(
    model: ServedModel,
    image: np.ndarray,
    mask: np.ndarray,
    strategy: str = "crop",
    mode: str | None = None,
    seed: int = 0,
    control: Control | None = None,
) -> np.ndarray:
    """Fill `mask` ((H, W) bool) of `image` ((H, W, 3) uint8) with one model (`inpaintzoo.photos`), any size."""
    kwargs: dict[str, Any] = {}
    if model.decodes:
        mode = mode or model.modes[0]
        kwargs = decoding_kwargs(model.decoding_for(mode, seed))
    _local.control = control
    try:
        out = inpaint_photo(model.run, image, mask, strategy=strategy, **kwargs)
    finally:
        _local.control = None
    return np.where(mask[..., None], out, image)


def hole_scores(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float | None]:
    """Hole MSE over the hole's sub-pixels on the 0-255 scale, and its PSNR (None where the fill is exact)."""
    diff = result[mask].astype(np.float64) - truth[mask].astype(np.float64)
    mse = float(np.mean(diff**2))
    value = psnr_from_mse(mse)
    return {"hole_mse": mse, "psnr": value if math.isfinite(value) else None}


@dataclass
class Result:
    """One model's part of a job."""

    model: str
    mode: str | None
    state: str = "queued"  # queued, running, done, error, cancelled
    seconds: float = 0.0
    started: float | None = None
    message: str = ""
    png: bytes | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)

    def to_json(self, job_id: str, index: int, control: Control) -> dict[str, Any]:
        running = self.state == "running" and self.started is not None
        return {
            "model": self.model,
            "mode": self.mode,
            "state": self.state,
            "seconds": round(time.perf_counter() - self.started if running else self.seconds, 3),
            "steps": control.steps if self.state == "running" else None,
            "message": self.message,
            "url": f"/api/jobs/{job_id}/results/{index}.png" if self.png is not None else None,
            "metrics": self.metrics,
        }


@dataclass
class Job:
    """A fill request: the image, its mask, the models in order, and their results as they come."""

    image_name: str
    image: np.ndarray
    mask: np.ndarray
    truth: np.ndarray | None
    strategy: str
    seed: int
    results: list[Result]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    control: Control = field(default_factory=Control)
    state: str = "queued"
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        done = sum(r.state in FINISHED for r in self.results)
        return {
            "id": self.id,
            "state": self.state,
            "image": self.image_name,
            "width": int(self.image.shape[1]),
            "height": int(self.image.shape[0]),
            "strategy": self.strategy,
            "seed": self.seed,
            "progress": {"done": done, "total": len(self.results)},
            "results": [r.to_json(self.id, i, self.control) for i, r in enumerate(self.results)],
            "mask_url": f"/api/jobs/{self.id}/mask.png",
        }


class JobRunner:
    """Runs jobs on a few worker threads and keeps the latest `keep` finished ones for the pages that poll.

    Jobs hold full-size images and PNGs (tens of MB at the largest size), so few are kept.
    """

    def __init__(self, models: dict[str, ServedModel], workers: int = 2, keep: int = 16, queue: int = 8) -> None:
        install_cancel_hook()
        self.models = models
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="inpaintzoo-fill")
        self.keep = keep
        self.queue = queue
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()

    def submit(self, job: Job) -> Job:
        """Queue `job`; refused (429) while `queue` jobs are already waiting or running."""
        with self.lock:
            busy = sum(j.state not in FINISHED for j in self.jobs.values())
            if busy >= self.queue:
                raise WebInputError(f"the server is busy with {busy} fills: wait for one to finish", 429)
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                oldest = next((k for k, j in self.jobs.items() if j.state in FINISHED), None)
                if oldest is None:
                    break
                del self.jobs[oldest]
        self.executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        job.control.cancelled.set()

    def _run(self, job: Job) -> None:
        job.state = "running"
        for result in job.results:
            if job.control.cancelled.is_set():
                result.state, result.message = "cancelled", "cancelled before it started"
                continue
            self._fill_one(job, result)
        states = {r.state for r in job.results}
        job.state = "cancelled" if "cancelled" in states else "done" if "done" in states else "error"

    def _fill_one(self, job: Job, result: Result) -> None:
        model = self.models[result.model]
        job.control.steps = 0
        result.state, result.started = "running", time.perf_counter()
        try:
            out = fill(model, job.image, job.mask, job.strategy, result.mode, job.seed, job.control)
            result.png = encode_png(out)
            if job.truth is not None:
                result.metrics = hole_scores(out, job.truth, job.mask)
            result.state = "done"
        except FillCancelled:
            result.state, result.message = "cancelled", "cancelled"
        except InpaintzooError as exc:
            result.state, result.message = "error", str(exc)
        except Exception as exc:  # a bug in one model must not end the job or the server
            log.exception("fill with %s failed", result.model)
            result.state, result.message = "error", f"internal error in {result.model}: {type(exc).__name__}: {exc}"
        finally:
            result.seconds = time.perf_counter() - result.started

    def shutdown(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                job.control.cancelled.set()
        self.executor.shutdown(wait=False, cancel_futures=True)
