"""Hydra-style overrides: parsing, type coercion against signatures, and the errors users see."""

from __future__ import annotations

from typing import Literal

import pytest

from inpaintzoo.config import coerce_value, parse_overrides, resolve_config
from inpaintzoo.errors import UsageError
from inpaintzoo.registry import Registry


def make_registry() -> Registry:
    registry = Registry()

    def encoder(
        in_channels: int, image_size: int, width: int = 32, dropout: float = 0.5, batch_norm: bool = True
    ) -> None: ...

    def density(image_size: int, width: int = 12, mode: Literal["a", "b"] = "a") -> None: ...

    registry.register("encoder", "cnn", encoder)
    registry.register("encoder", "resnet", encoder)
    registry.register("decoder", "deconv", lambda in_channels, in_size, patch_size, width=16: None)
    registry.register("loss", "l2", lambda: None)
    registry.register("loss", "wgan", lambda clip=0.01, n_critic=10: None)
    registry.register("discriminator", "vgg", lambda image_size, width=8: None)
    registry.register("density", "pixelcnn", density)
    registry.register("dataset", "samples", lambda split, image_size=32: None)
    registry.register("mask", "center", lambda image_size, size=8, fill="zeros": None)
    return registry


def test_defaults_are_filled_in_from_signatures() -> None:
    config = resolve_config([], make_registry())
    assert config["task"] == "context-encoder"
    assert config["encoder"] == {"name": "cnn", "width": 32, "dropout": 0.5, "batch_norm": True}
    assert config["disc"] == {"name": None}
    assert config["train"]["epochs"] == 10 and config["model"]["overlap"] == 4


def test_overrides_pick_components_and_coerce_types() -> None:
    config = resolve_config(
        [
            "encoder=resnet",
            "disc=vgg",
            "loss=wgan",
            "encoder.width=64",
            "encoder.batch_norm=false",
            "loss.clip=0.05",
            "train.epochs=5",
            "discriminator.width=4",
        ],
        make_registry(),
    )
    assert config["encoder"] == {"name": "resnet", "width": 64, "dropout": 0.5, "batch_norm": False}
    assert config["loss"] == {"name": "wgan", "clip": 0.05, "n_critic": 10}
    assert config["disc"] == {"name": "vgg", "width": 4}
    assert config["train"]["epochs"] == 5


def test_density_run_drops_context_encoder_groups() -> None:
    config = resolve_config(["density=pixelcnn", "density.mode=b"], make_registry())
    assert config["task"] == "density"
    assert config["density"] == {"name": "pixelcnn", "width": 12, "mode": "b"}
    assert "encoder" not in config and "model" not in config
    with pytest.raises(UsageError, match="encoder.* does not apply to density"):
        resolve_config(["density=pixelcnn", "encoder.width=3"], make_registry())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["encoder=resnt"], "unknown encoder 'resnt'; did you mean 'resnet'"),
        (["encoder.widht=3"], r"unknown key encoder.widht of encoder=cnn; did you mean 'width'"),
        (["trian.epochs=3"], r"unknown key 'trian.epochs'; did you mean 'train'"),
        (["encoder.width=wide"], "encoder.width: expected int, got 'wide'"),
        (["encoder.batch_norm=maybe"], r"encoder.batch_norm: expected bool"),
        (["train.epochs=-1"], "train.epochs must be at least 1"),
        (["train.lr=0"], "train.lr must be positive"),
        (["model.overlap=-2"], "model.overlap must be 0 or more"),
        (["model.judge=both"], "model.judge: expected one of image, patch"),
        (["epochs"], "is not KEY=VALUE"),
        (["train=5"], "train is a settings group"),
        (["encoder.a.b=1"], "nested too deeply"),
        (["disc.width=3"], "disc.width is set but no disc is chosen"),
    ],
)
def test_bad_overrides_give_one_clear_line(overrides: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        resolve_config(overrides, make_registry())
    assert "\n" not in str(info.value)


def test_switching_a_component_resets_its_parameters() -> None:
    base = resolve_config(["loss=wgan", "loss.clip=0.1"], make_registry())
    config = resolve_config(["loss=l2"], make_registry(), base=base)
    assert config["loss"] == {"name": "l2"}


def test_keys_apply_to_the_chosen_component_whatever_their_order() -> None:
    before = resolve_config(["loss.n_critic=5", "loss.clip=0.1", "loss=wgan"], make_registry())
    after = resolve_config(["loss=wgan", "loss.n_critic=5", "loss.clip=0.1"], make_registry())
    assert before == after and before["loss"]["n_critic"] == 5 and before["loss"]["clip"] == 0.1
    with pytest.raises(UsageError, match="loss.clip of loss=l2"):  # a replaced choice's key is not dropped silently
        resolve_config(["loss=wgan", "loss.clip=0.1", "loss=l2"], make_registry())


def test_base_config_then_overrides() -> None:
    base = resolve_config(["encoder=resnet", "train.epochs=3"], make_registry())
    config = resolve_config(["train.epochs=7"], make_registry(), base=base)
    assert config["encoder"]["name"] == "resnet" and config["train"]["epochs"] == 7


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        ("3", int, 3),
        (3.0, int, 3),
        ("0.5", float, 0.5),
        ("yes", bool, True),
        ("off", bool, False),
        ("none", int | None, None),
        ("4", int | None, 4),
        ("[1,2, 3]", tuple[int, ...], (1, 2, 3)),
        ("b", Literal["a", "b"], "b"),
        ("x", str, "x"),
    ],
)
def test_coerce_value(value: object, annotation: object, expected: object) -> None:
    assert coerce_value(value, annotation, "k") == expected


def test_parse_overrides_aliases() -> None:
    assert parse_overrides(["discriminator=vgg", "dataset.image_size=64"]) == [
        ("disc", None, "vgg"),
        ("data", "image_size", "64"),
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["density=pixelcnn", "encoder=resnet"], "encoder=resnet does not apply to density=pixelcnn"),
        (["density=pixelcnn", "disc=vgg", "loss=wgan"], "disc=vgg does not apply to density=pixelcnn"),
        (["loss=wgan", "density=pixelcnn"], "loss=wgan does not apply to density=pixelcnn"),
        (["model.judge=patch"], "model.judge=patch applies to a discriminator, and none is chosen"),
        (["train.disc_lr=1e-4"], "train.disc_lr=1e-4 applies to a discriminator"),
    ],
)
def test_a_choice_that_cannot_apply_is_an_error(overrides: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        resolve_config(overrides, make_registry())
    assert "\n" not in str(info.value)


def test_choices_that_apply_are_accepted() -> None:
    assert resolve_config(["density=pixelcnn", "disc=none"], make_registry())["task"] == "density"
    config = resolve_config(["disc=vgg", "loss=wgan", "model.judge=patch", "train.disc_lr=1e-4"], make_registry())
    assert config["model"]["judge"] == "patch" and config["train"]["disc_lr"] == 1e-4
    # a resumed run's saved config holds every key: only what the user types is checked
    base = resolve_config([], make_registry())
    assert resolve_config(["train.epochs=2"], make_registry(), base=base)["model"]["judge"] == "image"


def test_a_run_names_the_plugin_it_needs() -> None:
    from inpaintzoo.config import PROVENANCE_KEY, check_plugins, provenance

    registry = make_registry()
    config = resolve_config([], registry)
    record = provenance(config, registry)
    assert record["encoder"] == {"kind": "encoder", "name": "cnn", "plugin": "<direct>", "version": ""}
    check_plugins({**config, PROVENANCE_KEY: record}, registry)  # everything is there: no error
    record["decoder"] = {"kind": "decoder", "name": "acme-shuffle", "plugin": "acme", "version": "1.2"}
    with pytest.raises(UsageError, match="decoder 'acme-shuffle' comes from plugin 'acme', which is not installed"):
        check_plugins({**config, PROVENANCE_KEY: record}, registry)
    registry.failures["acme"] = "failed to import acme: ImportError: boom"
    with pytest.raises(UsageError, match="comes from plugin 'acme', which failed to load: .*boom"):
        check_plugins({**config, PROVENANCE_KEY: record}, registry)
    # a saved config with the record resolves again (the record is not a config group)
    assert "plugins" not in resolve_config([], registry, base={**config, PROVENANCE_KEY: record})


# -- typed settings: TrainSettings / ModelSettings from and to the config's JSON groups ----------------------------


def test_settings_round_trip_through_json() -> None:
    import dataclasses
    import json

    from inpaintzoo.config import ModelSettings, TrainSettings

    config = resolve_config(
        ["train.epochs=3", "train.lr=1e-3", "train.precision=bf16", "train.hflip=yes", "model.overlap=2"],
        make_registry(),
    )
    train = TrainSettings.from_json(config["train"])
    assert (train.epochs, train.lr, train.precision, train.hflip) == (3, 1e-3, "bf16", True)
    assert train.to_json() == config["train"]  # the group resolve_config writes is the settings' JSON
    assert list(train.to_json()) == [f.name for f in dataclasses.fields(TrainSettings)]  # same key order on disk
    assert TrainSettings.from_json(json.loads(json.dumps(train.to_json()))) == train
    model = ModelSettings.from_json(config["model"])
    assert model.overlap == 2 and model.to_json() == config["model"]
    assert ModelSettings.from_json(model.to_json()) == model
    assert TrainSettings.from_json({}) == TrainSettings() and TrainSettings.from_json(None) == TrainSettings()


def test_an_older_config_missing_newer_keys_takes_their_defaults() -> None:
    import json
    from pathlib import Path

    import torch

    from inpaintzoo.config import ModelSettings, TrainSettings
    from inpaintzoo.engine.build import holdout

    current = resolve_config(["train.epochs=2", "train.limit=40"], make_registry())
    old = {k: v for k, v in current["train"].items() if k not in ("cooldown_steps", "init_from", "channels_last")}
    train = TrainSettings.from_json(old)
    assert (train.epochs, train.cooldown_steps, train.init_from, train.channels_last) == (2, 0, "", False)
    assert resolve_config([], make_registry(), base={**current, "train": old})["train"] == current["train"]
    assert ModelSettings.from_json({"overlap": 4, "overlap_weight": 20.0, "judge": "image"}).residual is False
    # the pretrained cards as shipped, some written before cooldown_steps, init_from or model.residual existed
    cards = sorted((Path(__file__).parents[1] / "inpaintzoo" / "zoo" / "pretrained").glob("*.json"))
    assert cards
    for card in cards:
        config = json.loads(card.read_text())["config"]
        assert TrainSettings.from_json(config["train"]).to_json().keys() == TrainSettings().to_json().keys()
        if "model" in config:
            ModelSettings.from_json(config["model"])
    # holdout cuts the same slice from the dict and from the settings
    images = torch.arange(100)
    assert all(torch.equal(a, b) for a, b in zip(holdout(images, old), holdout(images, train)))
    assert len(holdout(images, old)[0]) == 38  # limit 40, the default val_fraction 0.05 holds out 2


@pytest.mark.parametrize(
    ("section", "override", "message"),
    [
        ({"epochz": 3}, "train.epochz=3", "unknown key train.epochz; did you mean 'epochs'?"),
        ({"lr": "fast"}, "train.lr=fast", "train.lr: expected float, got 'fast'"),
        (
            {"precision": "fp64"},
            "train.precision=fp64",
            "train.precision: expected one of fp32, bf16, fp16, got 'fp64'",
        ),
    ],
)
def test_a_bad_settings_key_is_refused_in_one_line_as_resolve_config_does(
    section: dict[str, object], override: str, message: str
) -> None:
    from inpaintzoo.config import TrainSettings

    with pytest.raises(UsageError) as typed:
        TrainSettings.from_json(section)
    with pytest.raises(UsageError) as resolved:
        resolve_config([override], make_registry())
    with pytest.raises(UsageError) as based:
        resolve_config([], make_registry(), base={"task": "context-encoder", "train": section})
    assert str(typed.value) == str(resolved.value) == str(based.value) == message


def test_a_model_settings_key_is_refused_in_one_line() -> None:
    from inpaintzoo.config import ModelSettings

    with pytest.raises(UsageError, match=r"^unknown key model.overlapp; did you mean 'overlap'") as info:
        ModelSettings.from_json({"overlapp": 2})
    assert "\n" not in str(info.value)
