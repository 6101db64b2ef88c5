"""Pretrained entries: export a run, register the folder, load it by name, download by URL, use it from the CLI.

The builtin folder holds no weights until the zoo is trained, so the machinery is tested with tiny entries made
here: two context encoders trained for three steps on the sample photos (one on brush strokes, one on the
centre box), exported into a temporary folder and registered like a plugin's.
"""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintzoo
import inpaintzoo.plugins
from inpaintzoo import hub as P
from inpaintzoo.cli import main
from inpaintzoo.errors import DataError, UsageError
from inpaintzoo.photos import inpaint_photo
from inpaintzoo.plugins import load_registry
from inpaintzoo.registry import Registry

TINY = [
    "data=samples",
    "encoder=cnn",
    "encoder.width=8",
    "decoder=deconv",
    "decoder.width=8",
    "train.max_steps=3",
    "train.limit=48",
    "train.batch_size=8",
    "train.val_fraction=0.2",
    "train.grid_every=0",
    "train.bn_batches=1",
]
LIMIT = 8  # test images scored at export: enough to compare numbers, quick on two cores


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny runs and their exported entries: cnn.brush (any mask) and cnn.centre (the 8x8 box)."""
    root = tmp_path_factory.mktemp("zoo")
    runs = {
        "brush": inpaintzoo.train([*TINY, "mask=brush", f"train.out={root}", "train.name=brush"]),
        "centre": inpaintzoo.train([*TINY, f"train.out={root}", "train.name=centre"]),
    }
    registry = load_registry()
    folder = root / "entries"
    for tag, run_dir in runs.items():
        P.export(run_dir, f"cnn.{tag}", folder, score=True, registry=registry, limit=LIMIT)
    return {"folder": folder, **runs}


def plugin(folder: Path, name: str = "testzoo") -> object:
    """A plugin object whose hook registers a folder of cards (what a plugin module does)."""
    return types.SimpleNamespace(__name__=name, inpaintzoo_register=P.folder_hook(folder))


@pytest.fixture
def registry(zoo: dict[str, Path]) -> Registry:
    return load_registry(extra_plugins=[plugin(zoo["folder"])])


@pytest.fixture
def cli_sees_zoo(zoo: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's registry also loads the test zoo."""
    real = inpaintzoo.plugins.load_registry
    monkeypatch.setattr(
        inpaintzoo.plugins, "load_registry", lambda **kw: real(**kw, extra_plugins=[plugin(zoo["folder"])])
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([*args])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def photo(size: tuple[int, int] = (256, 256)) -> np.ndarray:
    """A sample photograph (package data) resized to `size` (width, height): real texture to fill."""
    source = sorted((Path(inpaintzoo.__file__).parent / "data" / "samples").glob("*.png"))[0]
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB").resize(size, Image.BILINEAR))


def stroke(h: int, w: int) -> np.ndarray:
    """A brush stroke: a thick diagonal line across the middle of the image."""
    yy, xx = np.mgrid[:h, :w]
    return (np.abs((yy - h * 0.3) - (xx - w * 0.3) * 0.6) < 4) & (xx > w * 0.3) & (xx < w * 0.7)


# -- export and cards ---------------------------------------------------------------------------------------------


def test_export_writes_weights_and_card(zoo: dict[str, Path]) -> None:
    from safetensors import safe_open

    weights, card_path = zoo["folder"] / "cnn.brush.safetensors", zoo["folder"] / "cnn.brush.json"
    data = json.loads(card_path.read_text())
    assert data["weights"]["sha256"] == P.sha256_file(weights)
    trained = json.loads((zoo["brush"] / "config.json").read_text())
    trained["train"].update(out="runs", name="")  # where the trainer kept its runs means nothing elsewhere
    assert data["config"] == trained
    card = data["card"]
    assert card["mask"]["name"] == "brush" and card["mask"]["box"] is None
    assert card["images_seen"] == 3 * 8 and card["budget"]["max_steps"] == 3
    assert card["train_command"].startswith("inpaintzoo train ") and "mask=brush" in card["train_command"]
    assert card["eval_command"] == "inpaintzoo eval --model cnn.brush --split test"
    assert card["metrics"]["images"] == LIMIT and card["metrics"]["hole_mse"] > 0
    # half precision by default, and the card says what it cost
    assert abs(card["fp16_delta"]["hole_mse"]) < 0.01 * card["metrics_fp32"]["hole_mse"]
    with safe_open(str(weights), "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        assert f.metadata()["inpaintzoo.name"] == "cnn.brush"
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert json.loads((zoo["folder"] / "cnn.centre.json").read_text())["card"]["mask"]["box"] == [12, 12, 8, 8]


def test_export_refuses_to_overwrite_and_checks_the_name(zoo: dict[str, Path], tmp_path: Path) -> None:
    registry = load_registry()
    P.export(zoo["centre"], "cnn.x", tmp_path, registry=registry, half=False)
    with pytest.raises(UsageError, match="already exists"):
        P.export(zoo["centre"], "cnn.x", tmp_path, registry=registry)
    P.export(zoo["centre"], "cnn.x", tmp_path, registry=registry, overwrite=True)
    with pytest.raises(UsageError, match="ARCHITECTURE.TAG"):
        P.export(zoo["centre"], "NoDot", tmp_path, registry=registry)
    with pytest.raises(UsageError, match="cnn.TAG"):
        P.export(zoo["centre"], "unet.x", tmp_path, registry=registry)


# -- registry, loading, Run ---------------------------------------------------------------------------------------


def test_entries_come_through_the_registry(registry: Registry) -> None:
    components = registry.list("pretrained", "cnn.*")  # (the builtin entries are there too, once trained)
    assert [c.name for c in components] == ["cnn.brush", "cnn.centre"]
    assert {c.plugin for c in components} == {"testzoo"}
    assert "hole MSE" in components[0].summary  # `inpaintzoo list pretrained` shows the metrics
    assert [e.name for e in P.list_pretrained("cnn.b*", registry)] == ["cnn.brush"]


def test_loaded_entry_is_a_run_that_reproduces_its_card(zoo: dict[str, Path], registry: Registry) -> None:
    run = P.load_pretrained("cnn.brush", device="cpu", registry=registry)
    assert run.path is None and run.name == "cnn.brush"
    card = json.loads((zoo["folder"] / "cnn.brush.json").read_text())["card"]
    metrics, _ = run.evaluate("test", limit=LIMIT)
    assert metrics["hole_mse"] == pytest.approx(card["metrics"]["hole_mse"], rel=1e-6)
    original = inpaintzoo.load_run(str(zoo["brush"]), device="cpu")
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = original.mask(2, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(run.inpaint(images, mask), original.inpaint(images, mask), atol=2e-2)  # fp16 weights


def test_a_tampered_file_is_refused(zoo: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(zoo["folder"], folder)
    weights = folder / "cnn.brush.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    registry = load_registry(extra_plugins=[plugin(folder, "tampered")])
    with pytest.raises(DataError, match="checksum mismatch"):
        P.load_pretrained("cnn.brush", device="cpu", registry=registry)


def test_centre_model_names_the_model_that_can_fill_a_stroke(registry: Registry) -> None:
    run = P.load_pretrained("cnn.centre", device="cpu", registry=registry)
    mask = torch.from_numpy(stroke(64, 64))
    reason = run.serves(mask)
    assert reason is not None and "--model cnn.brush" in reason
    assert run.serves(torch.from_numpy(np.pad(np.ones((6, 6), bool), 20))) is None  # a box anywhere is fine
    with pytest.raises(DataError, match="free-form"):
        run.inpaint(torch.rand(1, 3, 64, 64), mask[None, None])


def test_any_size_photo_with_a_stroke(registry: Registry) -> None:
    run = P.load_pretrained("cnn.brush", device="cpu", registry=registry)
    image, hole = photo((256, 256)), stroke(256, 256)
    out = inpaint_photo(run, image, hole)
    assert out.shape == (256, 256, 3) and np.array_equal(out[~hole], image[~hole])
    assert not np.array_equal(out[hole], image[hole])
    images, one_mask = torch.rand(2, 3, 50, 70), torch.from_numpy(stroke(50, 70))[None, None]
    tensors = run.inpaint(images, one_mask)  # one mask for the batch
    outside = ~one_mask.expand_as(images)
    assert tensors.shape == (2, 3, 50, 70) and torch.equal(tensors[outside], images[outside])
    with pytest.raises(DataError, match="mask must be"):
        run.inpaint(images, one_mask.expand(3, 1, 50, 70))


def test_bf16_and_density_models_at_any_size(registry: Registry, tmp_path: Path) -> None:
    run = P.load_pretrained("cnn.brush", device="cpu", registry=registry)
    images, hole = torch.rand(1, 3, 40, 30), torch.from_numpy(stroke(40, 30))[None, None]
    filled = run.inpaint(images, hole, precision="bf16")
    assert torch.equal(filled[~hole.expand_as(images)], images[~hole.expand_as(images)])
    run_dir = inpaintzoo.train(
        ["data=samples", "density=pixelcnn", "train.max_steps=1", "train.limit=16", "train.batch_size=4",
         "train.val_fraction=0.25", "train.grid_every=0", f"train.out={tmp_path}", "train.name=pcnn"]
    )  # fmt: skip
    density = inpaintzoo.load_run(str(run_dir), device="cpu")
    for strategy in ("original", "crop", "resize"):
        out = density.inpaint(images, hole, strategy=strategy, mode="sample", seed=1)
        assert torch.equal(out[~hole.expand_as(images)], images[~hole.expand_as(images)])
    big = torch.zeros(1, 1, 100, 100, dtype=torch.bool)
    big[..., 10:90, 10:90] = True
    assert "sequential steps" in density.serves(big, "original") and density.serves(big, "crop") is None


def test_the_module_is_callable_through_the_default_registry(zoo: dict[str, Path], monkeypatch) -> None:
    registry = load_registry(extra_plugins=[plugin(zoo["folder"])])
    monkeypatch.setattr(inpaintzoo.plugins, "_DEFAULT", registry)
    assert inpaintzoo.pretrained("cnn.centre", device="cpu").name == "cnn.centre"
    assert {"cnn.brush", "cnn.centre"} <= {e.name for e in inpaintzoo.list_pretrained()}
    assert [e.name for e in inpaintzoo.list_pretrained("cnn.*")] == ["cnn.brush", "cnn.centre"]


def test_builtin_folder_registers_every_card_it_holds() -> None:
    from inpaintzoo.zoo.pretrained import FOLDER

    builtin = {c.name for c in load_registry().list("pretrained") if c.plugin == "inpaintzoo.pretrained"}
    assert builtin == {json.loads(p.read_text())["name"] for p in FOLDER.glob("*.json")}


# -- weights elsewhere: URL (a loopback server) and the Hugging Face Hub ------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTP server on 127.0.0.1 serving a folder; yields (base URL, folder, request paths)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder, requests
    httpd.shutdown()
    httpd.server_close()


def url_card(zoo: dict[str, Path], folder: Path, weights: dict[str, object]) -> Path:
    """A copy of cnn.brush's card whose weights live elsewhere."""
    data = json.loads((zoo["folder"] / "cnn.brush.json").read_text())
    data["weights"] = {**weights, "sha256": data["weights"]["sha256"]}
    folder.mkdir(exist_ok=True)
    (folder / "cnn.brush.json").write_text(json.dumps(data))
    return folder


def test_url_weights_download_once_verified(zoo, server, tmp_path: Path, monkeypatch) -> None:
    base, served, requests = server
    shutil.copy(zoo["folder"] / "cnn.brush.safetensors", served / "w.safetensors")
    cache = tmp_path / "cache"
    monkeypatch.setenv("INPAINTZOO_CACHE", str(cache))
    cards = url_card(zoo, tmp_path / "cards", {"url": f"{base}/w.safetensors"})
    registry = load_registry(extra_plugins=[plugin(cards, "remote")])
    run = P.load_pretrained("cnn.brush", device="cpu", registry=registry, progress=False)
    assert run.name == "cnn.brush" and requests == ["/w.safetensors"]
    assert [p.name.endswith("-w.safetensors") for p in cache.iterdir()] == [True]
    P.load_pretrained("cnn.brush", device="cpu", registry=registry, progress=False)
    assert requests == ["/w.safetensors"]  # the cached copy is used (and verified), not fetched again


def test_url_checksum_mismatch_leaves_nothing(zoo, server, tmp_path: Path, monkeypatch) -> None:
    base, served, _ = server
    (served / "w.safetensors").write_bytes(b"not the weights")
    cache = tmp_path / "cache"
    monkeypatch.setenv("INPAINTZOO_CACHE", str(cache))
    cards = url_card(zoo, tmp_path / "cards", {"url": f"{base}/w.safetensors"})
    registry = load_registry(extra_plugins=[plugin(cards, "remote")])
    with pytest.raises(DataError, match="checksum mismatch") as info:
        P.load_pretrained("cnn.brush", device="cpu", registry=registry, progress=False)
    assert "\n" not in str(info.value)
    assert list(cache.iterdir()) == []  # no half-written or wrong file left behind


def test_offline_is_one_line(zoo, tmp_path: Path, monkeypatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("INPAINTZOO_CACHE", str(tmp_path / "cache"))
    cards = url_card(zoo, tmp_path / "cards", {"url": f"http://127.0.0.1:{port}/w.safetensors"})
    registry = load_registry(extra_plugins=[plugin(cards, "remote")])
    with pytest.raises(DataError, match="cannot download") as info:
        P.load_pretrained("cnn.brush", device="cpu", registry=registry, progress=False)
    assert "\n" not in str(info.value) and not list((tmp_path / "cache").iterdir())


def test_hugging_face_hub_weights(zoo, tmp_path: Path, monkeypatch) -> None:
    fetched: list[tuple[str, str]] = []

    def hf_hub_download(repo_id: str, filename: str) -> str:
        fetched.append((repo_id, filename))
        return str(zoo["folder"] / "cnn.brush.safetensors")

    cards = url_card(zoo, tmp_path / "cards", {"hf_hub_id": "someone/inpaintzoo-cnn", "filename": "brush.safetensors"})
    registry = load_registry(extra_plugins=[plugin(cards, "hub")])
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed: a line that says what to install
    with pytest.raises(UsageError, match="pip install huggingface_hub"):
        P.load_pretrained("cnn.brush", device="cpu", registry=registry)
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    assert P.load_pretrained("cnn.brush", device="cpu", registry=registry).name == "cnn.brush"
    assert fetched == [("someone/inpaintzoo-cnn", "brush.safetensors")]


# -- the command line ---------------------------------------------------------------------------------------------


def test_models_and_list_pretrained(capsys, cli_sees_zoo) -> None:
    code, out, err = cli(capsys, "models", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["cnn.brush"]["metrics"]["images"] == LIMIT and rows["cnn.centre"]["box"] == [12, 12, 8, 8]
    code, out, _ = cli(capsys, "models")
    assert code == 0 and "cnn.brush" in out and "hole MSE" in out
    code, out, _ = cli(capsys, "list", "pretrained", "--json")
    assert code == 0 and {"cnn.brush", "cnn.centre"} <= {r["name"] for r in json.loads(out)}


def test_cli_inpaint_photo_with_a_stroke(capsys, cli_sees_zoo, tmp_path: Path) -> None:
    image, hole = photo((256, 256)), stroke(256, 256)
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray((hole * 255).astype(np.uint8)).save(tmp_path / "stroke.png")
    args = ["inpaint", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "stroke.png"), "--model", "cnn.brush"]
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "out"), "--compare")
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert out.shape == (256, 256, 3) and np.array_equal(out[~hole], image[~hole])
    assert Image.open(tmp_path / "out" / "photo-compare.png").size[0] >= 2 * 256
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "out"))
    assert code == 2 and "already exists" in err


def test_cli_inpaint_checks_every_input_before_writing(capsys, cli_sees_zoo, tmp_path: Path) -> None:
    Image.fromarray(photo((40, 30))).save(tmp_path / "a.png")
    Image.fromarray(photo((20, 20))).save(tmp_path / "b.png")
    code, _, err = cli(
        capsys, "inpaint", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--box", "5,5,10,10",
        "--box", "2,25,4,4", "--model", "cnn.brush", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and "b.png" in err and "does not fit in the 20x20 image" in err
    assert not (tmp_path / "out").exists()
    code, _, err = cli(capsys, "inpaint", str(tmp_path / "a.png"), "--box", "5,5,10,10", "--box", "2,25,4,4",
                       "--model", "cnn.centre", "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err  # two rectangles on a 40x30 image: one window each, scaled into the centre box
    assert Image.open(tmp_path / "out" / "a.png").size == (40, 30)


def test_cli_inpaint_refusals_are_one_true_line(capsys, cli_sees_zoo, tmp_path: Path) -> None:
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    Image.fromarray(photo((64, 64))).save(tmp_path / "p.png")
    Image.fromarray((stroke(64, 64) * 255).astype(np.uint8)).save(tmp_path / "s.png")
    (tmp_path / "file").write_text("x")
    cases = [
        (["inpaint", str(tmp_path / "dot.png"), "--box", "0,0,1,1", "--model", "cnn.brush"], "1x1 pixels"),
        (["inpaint", str(tmp_path / "p.png"), "--model", "cnn.brush"], "mark the hole with --mask or --box"),
        (["inpaint", str(tmp_path / "p.png"), "--mask", str(tmp_path / "s.png"), "--model", "cnn.centre"],
         "--model cnn.brush"),
        (["inpaint", str(tmp_path / "p.png"), "--box", "1,1,4,4", "--model", "cnn.brush", "--strategy", "original"],
         "32x32 only"),
        (["inpaint", str(tmp_path / "p.png"), "--box", "1,1,4,4", "--model", "cnn.brush", "--out",
          str(tmp_path / "file" / "sub")], "which is a file"),
        (["inpaint", str(tmp_path / "p.png"), "--box", "1,1,4,4", "--model", "cnn.nope"], "unknown pretrained"),
    ]  # fmt: skip
    for args, expected in cases:
        code, _, err = cli(capsys, *args)
        assert code == 2 and expected in err and err.count("\n") == 1, (args, err)


def test_cli_inpaint_run_dir_still_works(capsys, zoo: dict[str, Path], tmp_path: Path) -> None:
    Image.fromarray(photo((32, 32))).save(tmp_path / "p.png")
    code, _, err = cli(capsys, "inpaint", str(zoo["centre"]), str(tmp_path / "p.png"), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert (tmp_path / "o" / "p.png").is_file()


def test_cli_eval_model_and_export(capsys, cli_sees_zoo, zoo: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "eval", "--model", "cnn.centre", "--limit", str(LIMIT))
    assert code == 0, err
    card = json.loads((zoo["folder"] / "cnn.centre.json").read_text())["card"]
    record = json.loads((tmp_path / "eval-test-cnn-centre.json").read_text())
    assert record["run"] == "cnn.centre" and record["hole_mse"] == pytest.approx(card["metrics"]["hole_mse"])
    assert (tmp_path / "eval-test-cnn-centre.png").is_file()
    code, _, err = cli(capsys, "eval", str(zoo["centre"]), "--model", "cnn.centre")
    assert code == 2 and "not both" in err
    code, _, err = cli(capsys, "export", str(zoo["centre"]), "cnn.cli", "--out", str(tmp_path / "e"), "--no-half")
    assert code == 0, err
    assert (tmp_path / "e" / "cnn.cli.safetensors").is_file()
    code, _, err = cli(capsys, "export", str(zoo["centre"]), "cnn.cli", "--out", str(tmp_path / "e"))
    assert code == 2 and "--overwrite" in err


# -- the bar, once the builtin entries are in the package -------------------------------------------------


def test_builtin_free_form_model_beats_the_mean_colour_fill() -> None:
    registry = load_registry()
    run = P.load_pretrained("unet.freeform", device="cpu", registry=registry)
    image, hole = photo((256, 256)), stroke(256, 256)
    out = inpaint_photo(run, image, hole)
    assert out.shape == image.shape and np.array_equal(out[~hole], image[~hole])
    mean = image[~hole].mean(0)
    error = ((out[hole].astype(float) - image[hole]) ** 2).mean()
    assert error < ((mean - image[hole]) ** 2).mean()
