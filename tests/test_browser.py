"""`inpaintzoo serve` in a real headless Chromium: upload a photo, paint a stroke, fill with two models.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (`.ci/setup` installs them); it
skips, saying which is missing, only where they are not installed, and fails instead under CI=true. With
`INPAINTZOO_SCREENSHOTS=DIR` set it saves a screenshot of each step there.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_CE, TINY_DENSITY, import_or_missing, needs
from PIL import Image

import inpaintzoo

webdriver = import_or_missing("selenium.webdriver", "selenium is not installed (pip install selenium)")
import_or_missing("starlette", "the web extra is not installed: pip install 'inpaintzoo[web]'")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = needs(
    CHROMIUM is not None and DRIVER is not None,
    f"no headless browser (chromium: {CHROMIUM}, chromedriver: {DRIVER}): apt-get install chromium chromium-driver",
)
PHOTO = Path(inpaintzoo.__file__).parent / "data" / "samples" / "chelsea.png"
# root in CI: no sandbox; no /dev/shm limit; one window big enough for the results row
BROWSER_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1400,1150",
)
# the pretrained free-form model (any mask) where the zoo ships it, else a tiny density run
PRETRAINED = "unet.freeform"
HAS_PRETRAINED = any(entry.name == PRETRAINED for entry in inpaintzoo.list_pretrained())
CHOSEN = ("brush-encoder", PRETRAINED if HAS_PRETRAINED else "pixelcnn")


class Screenshots:
    """Numbered screenshots of each step, where INPAINTZOO_SCREENSHOTS names a folder."""

    def __init__(self, driver: object) -> None:
        folder = os.environ.get("INPAINTZOO_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        self.driver = driver
        self.count = 0
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> None:
        if self.folder is not None:
            self.count += 1
            self.driver.save_screenshot(str(self.folder / f"{self.count:02d}-{step}.png"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`inpaintzoo serve` with two tiny models on a free loopback port, as a subprocess; yields its URL."""
    out = tmp_path_factory.mktemp("runs")
    runs = []
    for name, overrides in (("brush-encoder", [*TINY_CE, "mask=brush"]), ("pixelcnn", TINY_DENSITY)):
        common = ["data=samples", "train.max_steps=2", "train.limit=16", "train.batch_size=4"]
        runs.append(inpaintzoo.train([*overrides, *common, f"train.out={out}", f"train.name={name}"]))
    command = [sys.executable, "-m", "inpaintzoo", "serve", "--port", "0", "--device", "cpu"]
    for run in runs:
        command += ["--run", str(run)]
    if HAS_PRETRAINED:
        command += ["--model", PRETRAINED]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)
    try:
        if not first or "http://127.0.0.1:" not in first[0]:
            process.kill()
            raise AssertionError(f"serve printed no URL: {first} {process.stderr.read()}")
        yield first[0].split()[2].rstrip("/")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def fetch(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def test_paint_a_stroke_and_compare_two_models(server: str, browser: object, tmp_path: Path) -> None:
    driver = browser
    shot = Screenshots(driver)
    wait = WebDriverWait(driver, 90)
    photo = tmp_path / "cat.png"
    shutil.copy(PHOTO, photo)
    original = np.asarray(Image.open(photo).convert("RGB"))
    height, width = original.shape[:2]

    driver.get(server + "/")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#models input[type=checkbox]")) == 2 + HAS_PRETRAINED)
    shot("loaded")

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    driver.find_element(By.ID, "upload").send_keys(str(not_an_image))
    wait.until(lambda d: "not an image" in d.find_element(By.ID, "message").text)
    shot("not-an-image-message")

    driver.find_element(By.ID, "upload").send_keys(str(photo))
    wait.until(lambda d: f"{width}×{height}" in d.find_element(By.ID, "image-info").text)
    shot("uploaded")

    canvas = driver.find_element(By.ID, "mask")
    ActionChains(driver).move_to_element_with_offset(canvas, -120, -40).click_and_hold().move_by_offset(
        90, 30
    ).move_by_offset(90, 20).release().perform()
    shot("stroke")

    boxes = driver.find_elements(By.CSS_SELECTOR, "#models input[type=checkbox]")
    for box in boxes:  # select the two models, whatever the page preselected
        if box.is_selected() != (box.get_attribute("value") in CHOSEN):
            box.click()
    assert sorted(box.get_attribute("value") for box in boxes if box.is_selected()) == sorted(CHOSEN)
    shot("models")

    driver.find_element(By.ID, "fill").click()
    wait.until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, '#results .result[data-state="done"] img')) == 2
            and all(img.get_property("naturalWidth") > 0 for img in d.find_elements(By.CSS_SELECTOR, "#results img"))
        )
    )
    shot("results")

    cards = driver.find_elements(By.CSS_SELECTOR, "#results .result")
    assert sorted(card.get_attribute("data-model") for card in cards) == sorted(CHOSEN)
    urls = [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "#results img")]
    mask = fetch(urls[0].rsplit("/results/", 1)[0] + "/mask.png")[..., 0] > 127
    assert 0 < mask.sum() < mask.size  # the stroke reached the server as a hole
    for card, url in zip(cards, urls):
        assert "filled in" in card.find_element(By.CLASS_NAME, "status").text
        assert card.find_element(By.CSS_SELECTOR, "a.download").get_attribute("download").endswith(".png")
        result = fetch(url)
        assert result.shape == original.shape  # the photo's size
        assert np.array_equal(result[~mask], original[~mask])  # the context unchanged

    driver.find_element(By.ID, "clear").click()
    driver.find_element(By.ID, "fill").click()
    wait.until(lambda d: "mask is empty" in d.find_element(By.ID, "message").text)
    shot("empty-mask-message")
