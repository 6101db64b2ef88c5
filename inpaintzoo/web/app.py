"""The web app of `inpaintzoo serve`: a static page and the small HTTP API it is built on.

API (every error is JSON `{"error": "..."}` with a 4xx status; the server goes on serving):

- `GET  /api/info`                       models (name, source, density, modes), strategies, limits, samples
- `POST /api/images`                     multipart `image`: store an upload, answer `{id, width, height, url}`
- `POST /api/images/cifar10`             a random CIFAR-10 test image (its true pixels give hole MSE / PSNR)
- `GET  /api/images/{id}[.png]`          a stored image's size and name, or its PNG (`sample-NAME`: embedded photos)
- `POST /api/inpaint`                    `image` (file) or `image_id`, `mask` (PNG, white = hole) or `box`
                                         (T,L,H,W), `model`, optional `mode`, `strategy`, `seed` -> the PNG
- `POST /api/jobs`                       the same with `model` repeated (`NAME` or `NAME@MODE`; `mode`: the
                                         density models' default) -> 202 and the job
- `GET  /api/jobs/{id}`                  the job's state, progress and each model's result, time and scores
- `GET  /api/jobs/{id}/results/{k}.png`  result k; `GET /api/jobs/{id}/mask.png` the mask that was filled
- `POST /api/jobs/{id}/cancel`           stop the job at the next network step
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from inpaintzoo.errors import InpaintzooError
from inpaintzoo.photos import STRATEGIES
from inpaintzoo.web.inputs import Limits, WebInputError, box_to_mask, decode_image, decode_mask, encode_png
from inpaintzoo.web.jobs import Control, Job, JobRunner, Result, fill
from inpaintzoo.web.models import ServedModel

STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
CIFAR_PREFIX = "cifar10-test-"


@dataclass
class StoredImage:
    """An image the page can fill: its pixels, a name for downloads, and its truth where it is known."""

    pixels: np.ndarray
    name: str
    has_truth: bool = False


class ImageStore:
    """Uploads (the latest `keep`), the embedded sample photos, and CIFAR-10 test images by index."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self.uploads: OrderedDict[str, StoredImage] = OrderedDict()
        self.lock = threading.Lock()
        self._cifar: torch.Tensor | None = None

    def add(self, pixels: np.ndarray, name: str) -> str:
        image_id = uuid.uuid4().hex[:16]
        with self.lock:
            self.uploads[image_id] = StoredImage(pixels, name)
            while len(self.uploads) > self.keep:
                self.uploads.popitem(last=False)
        return image_id

    @staticmethod
    def sample_names() -> list[str]:
        return sorted(p.stem for p in SAMPLES.glob("*.png"))

    def cifar(self) -> torch.Tensor:
        """The CIFAR-10 test images (uint8 (N, 3, 32, 32)), read once; 404 where no copy is found."""
        if self._cifar is None:
            from inpaintzoo.data.cifar10 import DATA_ENV, find_cifar10_root, load_cifar10

            root = find_cifar10_root()
            if root is None or not (root / "test_batch").is_file():
                raise WebInputError(
                    f"no CIFAR-10 test batch here: set ${DATA_ENV} to a cifar-10-batches-py folder", 404
                )
            self._cifar = load_cifar10(root, "test")
        return self._cifar

    def get(self, image_id: str) -> StoredImage:
        if image_id.startswith("sample-") and image_id[7:] in self.sample_names():
            from inpaintzoo.data.io import load_image_uint8

            pixels = load_image_uint8(SAMPLES / f"{image_id[7:]}.png").permute(1, 2, 0).numpy()
            return StoredImage(np.ascontiguousarray(pixels), image_id[7:])
        if image_id.startswith(CIFAR_PREFIX) and image_id[len(CIFAR_PREFIX) :].isdigit():
            images = self.cifar()
            index = int(image_id[len(CIFAR_PREFIX) :])
            if index < len(images):
                pixels = images[index].permute(1, 2, 0).numpy()
                return StoredImage(np.ascontiguousarray(pixels), image_id, has_truth=True)
        with self.lock:
            stored = self.uploads.get(image_id)
        if stored is None:
            raise WebInputError(f"no image {image_id!r} on this server (uploads are kept for a while): upload it", 404)
        return stored


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _describe(image_id: str, stored: StoredImage) -> dict[str, Any]:
    height, width = stored.pixels.shape[:2]
    return {
        "id": image_id,
        "name": stored.name,
        "width": int(width),
        "height": int(height),
        "truth": stored.has_truth,
        "url": f"/api/images/{image_id}.png",
    }


def create_app(models: list[ServedModel], limits: Limits | None = None, workers: int = 2) -> Starlette:
    """The Starlette app serving `models` (loaded already) within `limits`; `workers` fills run at once."""
    limits = limits or Limits()
    by_name = {m.name: m for m in models}
    runner = JobRunner(by_name, workers=workers)
    images = ImageStore()

    async def read_form(request: Request) -> FormData:
        length = request.headers.get("content-length")
        budget = 2 * limits.max_upload_bytes + 2**20  # an image and a mask, and the other fields
        if length is not None and length.isdigit() and int(length) > budget:
            raise WebInputError(f"the request is {int(length) / 2**20:.1f} MB: {limits.describe()}", 413)
        try:
            return await request.form(max_files=4, max_fields=64, max_part_size=2**20)
        except HTTPException as exc:
            raise WebInputError(f"cannot read the form: {exc.detail}", 400) from None

    async def upload_bytes(form: FormData, key: str) -> bytes | None:
        value = form.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, UploadFile):
            raise WebInputError(f"{key} must be a file upload (multipart/form-data)", 400)
        data = await value.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise WebInputError(f"the {key} upload is over {limits.max_upload_bytes / 2**20:.0f} MB", 413)
        return data

    async def image_and_mask(form: FormData) -> tuple[StoredImage, np.ndarray]:
        data = await upload_bytes(form, "image")
        if data is not None:
            filename = getattr(form.get("image"), "filename", None) or "image"
            stored = StoredImage(decode_image(data, limits), Path(filename).stem or "image")
        elif form.get("image_id"):
            stored = images.get(str(form.get("image_id")))
        else:
            raise WebInputError("no image: send an `image` file or the `image_id` of an uploaded one", 400)
        shape = stored.pixels.shape[:2]
        mask_data = await upload_bytes(form, "mask")
        if mask_data is not None:
            mask = decode_mask(mask_data, shape, limits)
        elif form.get("box"):
            mask = box_to_mask(str(form.get("box")), shape)
        else:
            raise WebInputError("no mask: send a `mask` PNG (white = hole) or a `box` TOP,LEFT,HEIGHT,WIDTH", 400)
        return stored, mask

    def options(form: FormData) -> tuple[str, int]:
        strategy = str(form.get("strategy") or "crop")
        if strategy not in STRATEGIES:
            raise WebInputError(f"unknown strategy {strategy!r}: choose {', '.join(STRATEGIES)}", 400)
        try:
            seed = int(str(form.get("seed") or 0))
        except ValueError:
            raise WebInputError(f"seed must be an integer, got {form.get('seed')!r}", 400) from None
        return strategy, seed

    def pick(spec: str, mode: str | None, mask: np.ndarray, strategy: str) -> tuple[ServedModel, str | None]:
        """The model of `NAME` or `NAME@MODE` (`mode`: the request's own `mode` field), if it can fill `mask`."""
        name, _, at_mode = spec.partition("@")
        model = by_name.get(name)
        if model is None:
            raise WebInputError(f"no model {name!r} on this server: choose {', '.join(by_name)}", 404)
        mode = at_mode or mode or None
        if model.decodes:
            mode = mode or model.modes[0]
            if mode not in model.modes:
                raise WebInputError(f"{name} has no mode {mode!r}: choose {', '.join(model.modes)}", 400)
        elif mode:
            raise WebInputError(f"{name} is a context encoder: it has one answer and no decoding mode", 400)
        why = model.cannot_serve(torch.from_numpy(mask), strategy)
        if why:
            raise WebInputError(f"{name} cannot fill this mask: {why}")
        return model, mode

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "models": [m.describe() for m in models],
                "strategies": list(STRATEGIES),
                "limits": {
                    "max_side": limits.max_side,
                    "max_upload_mb": limits.max_upload_bytes / 2**20,
                    "text": limits.describe(),
                },
                "samples": [f"sample-{name}" for name in images.sample_names()],
            }
        )

    async def post_image(request: Request) -> Response:
        form = await read_form(request)
        data = await upload_bytes(form, "image")
        if data is None:
            raise WebInputError("no image: send the file as the `image` field", 400)
        filename = getattr(form.get("image"), "filename", None) or "image"
        pixels = decode_image(data, limits)
        stem = Path(filename).stem or "image"
        image_id = images.add(pixels, stem)
        return JSONResponse(_describe(image_id, images.get(image_id)))

    async def random_cifar(request: Request) -> Response:
        count = len(images.cifar())
        image_id = f"{CIFAR_PREFIX}{random.randrange(count)}"
        return JSONResponse(_describe(image_id, images.get(image_id)))

    async def describe_image(request: Request) -> Response:
        image_id = request.path_params["image_id"]
        return JSONResponse(_describe(image_id, images.get(image_id)))

    async def get_image(request: Request) -> Response:
        stored = images.get(request.path_params["image_id"])
        return Response(encode_png(stored.pixels), media_type="image/png")

    async def inpaint(request: Request) -> Response:
        form = await read_form(request)
        stored, mask = await image_and_mask(form)
        strategy, seed = options(form)
        specs = form.getlist("model")
        if len(specs) != 1:
            raise WebInputError("give exactly one `model` (POST /api/jobs fills with several)", 400)
        model, mode = pick(str(specs[0]), str(form.get("mode") or "") or None, mask, strategy)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(
            runner.executor, fill, model, stored.pixels, mask, strategy, mode, seed, Control()
        )
        headers = {"X-Inpaintzoo-Model": model.name, "X-Inpaintzoo-Seconds": f"{time.perf_counter() - started:.3f}"}
        return Response(encode_png(out), media_type="image/png", headers=headers)

    async def post_job(request: Request) -> Response:
        form = await read_form(request)
        stored, mask = await image_and_mask(form)
        strategy, seed = options(form)
        specs = [str(s) for s in form.getlist("model") if str(s)]
        if not specs:
            raise WebInputError("choose at least one model to fill with", 400)
        default_mode = str(form.get("mode") or "") or None
        density = {m.name for m in models if m.decodes}
        picked = [
            pick(spec, default_mode if spec.partition("@")[0] in density else None, mask, strategy) for spec in specs
        ]
        job = Job(
            image_name=stored.name,
            image=stored.pixels,
            mask=mask,
            truth=stored.pixels if stored.has_truth else None,
            strategy=strategy,
            seed=seed,
            results=[Result(model.name, mode) for model, mode in picked],
        )
        runner.submit(job)
        return JSONResponse(job.to_json(), status_code=202)

    def find_job(request: Request) -> Job:
        job = runner.get(request.path_params["job_id"])
        if job is None:
            raise WebInputError("no such job (finished jobs are kept for a while): fill again", 404)
        return job

    async def get_job(request: Request) -> Response:
        return JSONResponse(find_job(request).to_json())

    async def get_result(request: Request) -> Response:
        job = find_job(request)
        index = request.path_params["index"]
        if index >= len(job.results) or job.results[index].png is None:
            raise WebInputError(f"job {job.id} has no result {index} (yet)", 404)
        return Response(job.results[index].png, media_type="image/png")

    async def get_mask(request: Request) -> Response:
        return Response(encode_png(find_job(request).mask), media_type="image/png")

    async def cancel(request: Request) -> Response:
        job = find_job(request)
        runner.cancel(job)
        return JSONResponse(job.to_json())

    async def user_error(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, WebInputError) else 422
        return _error(status, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/images", post_image, methods=["POST"]),
        Route("/api/images/cifar10", random_cifar, methods=["POST"]),
        Route("/api/images/{image_id}.png", get_image),
        Route("/api/images/{image_id}", describe_image),
        Route("/api/inpaint", inpaint, methods=["POST"]),
        Route("/api/jobs", post_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", get_job),
        Route("/api/jobs/{job_id}/results/{index:int}.png", get_result),
        Route("/api/jobs/{job_id}/mask.png", get_mask),
        Route("/api/jobs/{job_id}/cancel", cancel, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            InpaintzooError: user_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.state.runner = runner
    app.state.images = images
    return app
