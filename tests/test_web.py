"""The web app's HTTP API: fills, every bad input, two pages at once, cancelling, and still serving after."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_CE, TINY_DENSITY, import_or_missing
from PIL import Image

import_or_missing("starlette", "the web extra is not installed: pip install 'inpaintzoo[web]'")
import_or_missing("starlette.testclient", "starlette's TestClient needs httpx2: pip install httpx2")

from starlette.testclient import TestClient  # noqa: E402

import inpaintzoo  # noqa: E402
from inpaintzoo.errors import UsageError  # noqa: E402
from inpaintzoo.web import create_app, is_loopback, require_web  # noqa: E402
from inpaintzoo.web.inputs import Limits  # noqa: E402
from inpaintzoo.web.models import load_models, offered_by_default  # noqa: E402

RUNS = {
    "brush": ["data=samples", *TINY_CE, "mask=brush", "train.batch_size=8"],
    "center": ["data=samples", *TINY_CE, "mask=center", "train.batch_size=8"],
    "pcnn": ["data=samples", *TINY_DENSITY, "train.batch_size=4"],
    "gated": ["data=samples", "density=gated-pixelcnn", "density.width=6", "density.layers=1", "train.batch_size=4"],
}


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four tiny models, two steps of training each: what matters here is the plumbing, not the fills."""
    out = tmp_path_factory.mktemp("runs")
    return {
        name: Path(
            inpaintzoo.train(
                [*overrides, "train.max_steps=2", "train.limit=16", f"train.out={out}", f"train.name={name}"]
            )
        )
        for name, overrides in RUNS.items()
    }


@pytest.fixture(scope="module")
def client(run_dirs: dict[str, Path]) -> Iterator[TestClient]:
    models = load_models(run_dirs=list(run_dirs.values()), device="cpu")
    app = create_app(models, Limits(max_side=256, max_upload_bytes=150_000), workers=2)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def photo(width: int = 48, height: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth colour image with a little noise, different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=2)
    return np.clip(base + rng.normal(0, 8, base.shape) + seed * 10, 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8) * 255 if pixels.dtype == bool else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def stroke(height: int = 40, width: int = 48) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for i in range(6, 30):
        mask[i : i + 3, i + 4 : i + 7] = True
    return mask


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def post(client: TestClient, path: str, image: np.ndarray | bytes, mask: np.ndarray | bytes | None, **fields):
    files = {"image": ("photo.png", image if isinstance(image, bytes) else png(image), "image/png")}
    if mask is not None:
        files["mask"] = ("mask.png", mask if isinstance(mask, bytes) else png(mask), "image/png")
    return client.post(path, files=files, data=fields)


def wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "error", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def assert_serving(client: TestClient) -> None:
    """A good fill right after: the server is up and answers with a PNG of the image with its context kept."""
    image, mask = photo(seed=3), stroke()
    response = post(client, "/api/inpaint", image, mask, model="brush")
    assert response.status_code == 200, response.text
    out = decode(response.content)
    assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])


def test_info_lists_models_and_limits(client: TestClient) -> None:
    info = client.get("/api/info").json()
    by_name = {m["name"]: m for m in info["models"]}
    assert set(by_name) == set(RUNS)
    assert by_name["pcnn"]["density"] and "greedy" in by_name["pcnn"]["modes"]
    assert not by_name["brush"]["density"] and by_name["brush"]["modes"] == []
    assert info["limits"]["max_side"] == 256 and "256 px" in info["limits"]["text"]
    assert "sample-chelsea" in info["samples"] and set(info["strategies"]) >= {"crop", "resize", "original"}
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_inpaint_returns_the_photo_with_only_the_hole_changed(client: TestClient) -> None:
    image, mask = photo(), stroke()
    for model in ("brush", "pcnn@sample", "pcnn"):
        response = post(client, "/api/inpaint", image, mask, model=model, seed="1")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-inpaintzoo-model"] == model.split("@")[0]
        out = decode(response.content)
        assert out.shape == image.shape
        assert np.array_equal(out[~mask], image[~mask])


def test_a_job_fills_with_several_models_side_by_side(client: TestClient) -> None:
    image = photo(64, 48)
    box = (10, 20, 12, 16)
    response = post(client, "/api/jobs", image, None, box=",".join(map(str, box)), model=["brush", "pcnn"], mode="mean")
    assert response.status_code == 202, response.text
    job = wait(client, response.json()["id"])
    assert job["state"] == "done" and job["progress"] == {"done": 2, "total": 2}
    assert [(r["model"], r["mode"]) for r in job["results"]] == [("brush", None), ("pcnn", "mean")]
    mask = decode(client.get(job["mask_url"]).content)[..., 0] > 127
    t, left, h, w = box
    assert mask.sum() == h * w and mask[t : t + h, left : left + w].all()
    for result in job["results"]:
        assert result["state"] == "done" and result["seconds"] > 0 and result["metrics"] == {}
        out = decode(client.get(result["url"]).content)
        assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])


def test_an_uploaded_image_is_kept_for_later_fills(client: TestClient) -> None:
    image = photo(30, 20, seed=5)
    stored = client.post("/api/images", files={"image": ("cat.png", png(image), "image/png")}).json()
    assert (stored["width"], stored["height"], stored["name"], stored["truth"]) == (30, 20, "cat", False)
    assert np.array_equal(decode(client.get(stored["url"]).content), image)
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:9, 10:15] = True
    response = client.post(
        "/api/jobs", data={"image_id": stored["id"], "model": "brush"}, files={"mask": ("m.png", png(mask))}
    )
    job = wait(client, response.json()["id"])
    out = decode(client.get(job["results"][0]["url"]).content)
    assert np.array_equal(out[~mask], image[~mask])
    sample = client.get("/api/images/sample-chelsea").json()
    assert sample["width"] > 0 and client.get(sample["url"]).headers["content-type"] == "image/png"


def test_cifar_images_are_scored_against_their_true_pixels(client: TestClient, cifar_root: Path) -> None:
    stored = client.post("/api/images/cifar10").json()
    assert stored["truth"] and (stored["width"], stored["height"]) == (32, 32)
    truth = decode(client.get(stored["url"]).content)
    mask = np.zeros((32, 32), dtype=bool)
    mask[12:20, 12:20] = True
    response = client.post(
        "/api/jobs",
        data={"image_id": stored["id"], "model": ["center", "pcnn"]},
        files={"mask": ("m.png", png(mask))},
    )
    job = wait(client, response.json()["id"])
    for result in job["results"]:
        out = decode(client.get(result["url"]).content).astype(np.float64)
        mse = float(np.mean((out[mask] - truth[mask]) ** 2))
        assert result["metrics"]["hole_mse"] == pytest.approx(mse)
        if mse > 0:
            assert result["metrics"]["psnr"] == pytest.approx(10 * np.log10(255**2 / mse))


def _bad_requests(client: TestClient) -> list[tuple[str, int, str, object]]:
    image, mask = photo(), stroke()
    full = np.ones(mask.shape, dtype=bool)
    big = photo(300, 20)
    noise = np.random.default_rng(0).integers(0, 256, (220, 240, 3), dtype=np.uint8)
    return [
        (
            "non-image upload",
            415,
            "not an image",
            lambda: post(client, "/api/inpaint", b"hello, not a png", mask, model="brush"),
        ),
        ("empty upload", 400, "empty", lambda: post(client, "/api/inpaint", b"", mask, model="brush")),
        ("empty mask", 422, "mask is empty", lambda: post(client, "/api/inpaint", image, ~full, model="brush")),
        ("full mask", 422, "whole image", lambda: post(client, "/api/inpaint", image, full, model="brush")),
        (
            "model cannot serve the mask",
            422,
            "center cannot fill this mask",
            lambda: post(client, "/api/inpaint", image, mask, model="center"),
        ),
        (
            "original strategy on an encoder",
            422,
            "brush cannot fill",
            lambda: post(client, "/api/jobs", image, mask, model=["pcnn", "brush"], strategy="original"),
        ),
        (
            "image over the side limit",
            413,
            "300x20",
            lambda: post(client, "/api/inpaint", big, None, box="1,1,4,4", model="brush"),
        ),
        (
            "upload over the byte limit",
            413,
            "MB",
            lambda: post(client, "/api/inpaint", noise, None, box="1,1,4,4", model="brush"),
        ),
        (
            "mask of another size",
            422,
            "the mask is",
            lambda: post(client, "/api/inpaint", image, mask[:20], model="brush"),
        ),
        ("no mask", 400, "no mask", lambda: post(client, "/api/inpaint", image, None, model="brush")),
        (
            "box outside the image",
            422,
            "does not fit",
            lambda: post(client, "/api/inpaint", image, None, box="30,40,20,20", model="brush"),
        ),
        ("unknown model", 404, "no model 'nope'", lambda: post(client, "/api/jobs", image, mask, model=["nope"])),
        ("no model", 400, "at least one model", lambda: post(client, "/api/jobs", image, mask)),
        ("unknown mode", 400, "no mode 'fast'", lambda: post(client, "/api/inpaint", image, mask, model="pcnn@fast")),
        (
            "mode for an encoder",
            400,
            "no decoding mode",
            lambda: post(client, "/api/inpaint", image, mask, model="brush", mode="sample"),
        ),
        (
            "unknown strategy",
            400,
            "unknown strategy",
            lambda: post(client, "/api/inpaint", image, mask, model="brush", strategy="zoom"),
        ),
        (
            "unknown image id",
            404,
            "no image",
            lambda: client.post(
                "/api/jobs", data={"image_id": "gone", "model": "brush"}, files={"mask": ("m.png", png(mask))}
            ),
        ),
        ("unknown job", 404, "no such job", lambda: client.get("/api/jobs/nope")),
        ("not multipart", 400, "no image", lambda: client.post("/api/inpaint", data={"model": "brush"})),
    ]


def test_every_bad_input_is_a_4xx_with_a_message_and_the_server_goes_on(client: TestClient) -> None:
    for what, status, fragment, send in _bad_requests(client):
        response = send()
        assert response.status_code == status, (what, response.status_code, response.text)
        assert fragment in response.json()["error"], (what, response.json())
        assert_serving(client)


def test_a_fill_that_fails_inside_a_job_is_reported_and_the_others_still_fill(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inpaintzoo.web import jobs

    real = jobs.inpaint_photo

    def broken_for_pcnn(run, *args, **kwargs):
        if run.is_density:
            raise RuntimeError("kaboom")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(jobs, "inpaint_photo", broken_for_pcnn)
    job = wait(client, post(client, "/api/jobs", photo(), stroke(), model=["pcnn", "brush"]).json()["id"])
    states = {r["model"]: (r["state"], r["message"]) for r in job["results"]}
    assert states["pcnn"][0] == "error" and "kaboom" in states["pcnn"][1]
    assert states["brush"] == ("done", "")
    monkeypatch.undo()
    assert_serving(client)


def test_two_pages_filling_at_once_get_their_own_results(client: TestClient) -> None:
    images = [photo(seed=1), photo(seed=2)]
    masks = [stroke(), np.flipud(stroke()).copy()]
    jobs: list[dict] = [{}, {}]
    barrier = threading.Barrier(2)

    def page(i: int) -> None:
        barrier.wait()
        response = post(client, "/api/jobs", images[i], masks[i], model=["brush", "pcnn"], seed=str(i))
        jobs[i] = wait(client, response.json()["id"])

    threads = [threading.Thread(target=page, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert jobs[0]["id"] != jobs[1]["id"]
    for image, mask, job in zip(images, masks, jobs):
        assert job["state"] == "done"
        for result in job["results"]:
            out = decode(client.get(result["url"]).content)
            assert np.array_equal(out[~mask], image[~mask])  # its own image and its own hole, not the other's
            assert not np.array_equal(out[mask], image[mask]) or result["model"] == "pcnn"


def test_concurrent_api_fills_each_answer_their_own_image(client: TestClient) -> None:
    images = [photo(seed=s) for s in range(4)]
    mask = stroke()
    answers: list[bytes | None] = [None] * 4

    def fill(i: int) -> None:
        response = post(client, "/api/inpaint", images[i], mask, model="brush")
        answers[i] = response.content if response.status_code == 200 else None

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for image, answer in zip(images, answers):
        assert answer is not None
        assert np.array_equal(decode(answer)[~mask], image[~mask])


def test_a_density_fill_can_be_cancelled_midway(client: TestClient) -> None:
    """A hook blocks the fill at its first network step until the job is cancelled: no race, no timing."""
    from torch import nn

    started, cancelled = threading.Event(), threading.Event()

    def block_once(module: nn.Module, args: object) -> None:
        if threading.current_thread().name.startswith("inpaintzoo-fill") and not started.is_set():
            started.set()
            cancelled.wait(30)

    handle = nn.modules.module.register_module_forward_pre_hook(block_once)
    try:
        response = post(client, "/api/jobs", photo(), stroke(), model=["gated@sample", "brush"])
        job_id = response.json()["id"]
        assert started.wait(30)
        running = client.get(f"/api/jobs/{job_id}").json()
        assert running["state"] == "running" and running["results"][0]["state"] == "running"
        assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
        cancelled.set()
        job = wait(client, job_id)
    finally:
        handle.remove()
    assert job["state"] == "cancelled"
    assert [r["state"] for r in job["results"]] == ["cancelled", "cancelled"]
    assert all(r["url"] is None for r in job["results"])
    assert_serving(client)


def test_serve_needs_the_web_extra_and_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import inpaintzoo.web as web

    monkeypatch.setattr(web, "WEB_MODULES", (*web.WEB_MODULES, "inpaintzoo_no_such_module"))
    with pytest.raises(UsageError, match=r"pip install 'inpaintzoo\[web\]'"):
        require_web()


def test_serve_refuses_a_busy_port_and_warns_off_loopback(
    run_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    import inpaintzoo.web as web

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    taken = web.bind("127.0.0.1", 0)
    try:
        with pytest.raises(UsageError, match="cannot listen on 127.0.0.1"):
            web.bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    models = load_models(run_dirs=[run_dirs["brush"]], device="cpu")
    lines: list[str] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: [s.close() for s in sockets or []])
    web.serve(models, host="127.0.0.1", port=0, echo=lines.append, warn=lines.append)
    assert len(lines) == 1 and lines[0].startswith("inpaintzoo serve: http://127.0.0.1:")
    monkeypatch.setattr(web, "bind", lambda host, port: web.socket.socket())  # never listens off loopback
    lines.clear()
    web.serve(models, host="0.0.0.0", port=0, echo=lines.append, warn=lines.append)
    assert lines[0].startswith("serving on 0.0.0.0, not loopback") and "http://0.0.0.0:" in lines[1]


def test_serve_command_errors_are_one_line(run_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from inpaintzoo.cli import main

    for args, fragment in [
        (["serve", "--run", "/nonexistent/run"], "is not a directory"),
        (["serve", "--run", str(run_dirs["brush"]), "--max-side", "0"], "must be positive"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and fragment in err and "Traceback" not in err


def test_a_full_queue_is_a_429_and_the_server_goes_on(client: TestClient) -> None:
    """Fills are held at their first network step, so the queue fills up deterministically."""
    from torch import nn

    release = threading.Event()

    def hold(module: nn.Module, args: object) -> None:
        if threading.current_thread().name.startswith("inpaintzoo-fill"):
            release.wait(30)

    handle = nn.modules.module.register_module_forward_pre_hook(hold)
    ids: list[str] = []
    try:
        for _ in range(8):
            response = post(client, "/api/jobs", photo(), stroke(), model=["brush"])
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        refused = post(client, "/api/jobs", photo(), stroke(), model=["brush"])
        assert refused.status_code == 429 and "busy" in refused.json()["error"]
    finally:
        release.set()
        handle.remove()
    assert all(wait(client, job_id)["state"] == "done" for job_id in ids)
    assert_serving(client)


def test_pretrained_entries_are_offered_by_default(run_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from inpaintzoo.classical import ClassicalModel, patchmatch_available
    from inpaintzoo.runs import load_run

    cifar, photos = {"data": {"name": "cifar10"}}, {"data": {"name": "photos"}}
    entries = [
        SimpleNamespace(
            name="tiny.brush", summary="a brush model; hole MSE 900", metrics={"hole_mse": 900.0}, config=cifar
        ),
        SimpleNamespace(name="tiny.pcnn", summary="a density model", metrics={}, config=cifar),
        SimpleNamespace(name="tiny.photo", summary="a photo model", metrics={}, config=photos),
    ]
    paths = {"tiny.brush": run_dirs["brush"], "tiny.pcnn": run_dirs["pcnn"], "tiny.photo": run_dirs["brush"]}

    def pretrained(name: str, device: str = "auto") -> object:
        return load_run(paths[name], device=device) if name in paths else ClassicalModel(name)

    monkeypatch.setattr(inpaintzoo, "list_pretrained", lambda pattern="*": entries)
    monkeypatch.setattr(inpaintzoo, "pretrained", pretrained)
    models = load_models(device="cpu")
    classical = ["telea", "navier-stokes"] + (["patchmatch"] if patchmatch_available() else [])
    # photo entries first, the classical fills to compare them with, then the rest
    assert [m.name for m in models] == ["tiny.photo", *classical, "tiny.brush", "tiny.pcnn"]
    assert {m.source for m in models} == {"pretrained"}
    second_photo = SimpleNamespace(name="a.photo", summary="", metrics={}, config=photos)
    assert offered_by_default([second_photo, *entries], first="tiny.photo")[:2] == ["tiny.photo", "a.photo"]
    brush = models[-2]
    assert brush.describe()["metrics"] == {"hole_mse": 900.0} and "hole MSE 900" in brush.summary
    assert "Telea" in models[1].summary
    both = load_models(["tiny.pcnn"], [run_dirs["pcnn"]], device="cpu")
    assert [m.name for m in both] == ["tiny.pcnn", "pcnn"] and all(m.is_density for m in both)
    monkeypatch.setattr(inpaintzoo, "list_pretrained", lambda pattern="*": [])
    assert [m.name for m in load_models(device="cpu")] == classical  # no entry installed: the classical fills


def test_serve_command_prints_its_loopback_url_and_serves(run_dirs: dict[str, Path]) -> None:
    import json
    import os
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "inpaintzoo", "serve", "--port", "0", "--run", str(run_dirs["brush"])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=120)
        assert line and line[0].startswith("inpaintzoo serve: http://127.0.0.1:"), (line, process.poll())
        url = line[0].split()[2]
        with urllib.request.urlopen(url + "api/info", timeout=30) as response:
            assert [m["name"] for m in json.load(response)["models"]] == ["brush"]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"/static/app.js" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "warning" not in process.stderr.read()


def test_a_density_entry_is_offered_with_its_cards_decoding_first() -> None:
    from types import SimpleNamespace

    from inpaintzoo.runs import DENSITY_MODES
    from inpaintzoo.web.models import ServedModel

    served = ServedModel("px", "pretrained", SimpleNamespace(decodes=True, is_density=True),
                         decoding={"mode": "posterior-mean", "k": 16, "tau": 0.1})  # fmt: skip
    assert served.modes[0] == "posterior-mean" and sorted(served.modes) == sorted(DENSITY_MODES)
    assert served.decode_options("posterior-mean") == {"k": 16, "tau": 0.1}
    assert served.decode_options("mean") == {}
    plain = ServedModel("run", "run", SimpleNamespace(decodes=True, is_density=True))
    assert plain.modes == list(DENSITY_MODES) and plain.decode_options("greedy") == {}


def test_the_page_fills_with_photo_and_classical_models_side_by_side(tmp_path: Path) -> None:
    from inpaintzoo.classical import ClassicalModel
    from inpaintzoo.web.models import ServedModel

    photo_run = inpaintzoo.train(
        ["data=samples", "data.image_size=16", "mask=lama", "mask.fill=telea", "encoder=ffc", "encoder.width=4",
         "encoder.blocks=1", "decoder=conv", "decoder.layers=0", "model.residual=true", "train.batch_size=4",
         "train.max_steps=2", "train.bn_batches=0", "train.grid_every=0", f"train.out={tmp_path}", "train.name=ffc"]
    )
    models = load_models(run_dirs=[photo_run], device="cpu")
    models.append(ServedModel("telea", "pretrained", ClassicalModel("telea"), "OpenCV Telea (classical)"))
    app = create_app(models, Limits(max_side=256, max_upload_bytes=150_000), workers=1)
    image, mask = photo(70, 50), stroke(50, 70)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = post(client, "/api/jobs", image, mask, model=["ffc", "telea"], strategy="original")
        assert response.status_code == 202, response.text
        job = wait(client, response.json()["id"])
        assert job["state"] == "done", job
        for result in job["results"]:  # 70x50 at its own size: the photo model is padded to its stride, not squeezed
            out = decode(client.get(result["url"]).content)
            assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])
