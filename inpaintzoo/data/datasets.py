"""inpaintzoo's builtin datasets, registered through the `inpaintzoo.datasets` entry point.

Each factory takes the contract arguments `(split, image_size)` plus its own parameters and returns
an `ImageSet`: float `(3, S, S)` items in `[0, 1]` and the uint8 tensor `images` for fast batching.
"""

from __future__ import annotations

from inpaintzoo.data.cifar10 import cifar10
from inpaintzoo.data.folder import folder
from inpaintzoo.data.photo_crops import photos
from inpaintzoo.data.samples import samples
from inpaintzoo.registry import Collection

components = Collection()

components("dataset", "cifar10", summary="CIFAR-10 32x32 photos from the python batches; downloads once if absent")(
    cifar10
)
components("dataset", "folder", summary="Your own folder of images, centre-cropped and resized (data.root=PATH)")(
    folder
)
components(
    "dataset", "photos", summary="Crops at random scales of real photographs, fixed held-out split (data.root=PATH)"
)(photos)
components("dataset", "samples", summary="Crops of 5 public-domain photos shipped inside the package (offline)")(
    samples
)

inpaintzoo_register = components.hook()
