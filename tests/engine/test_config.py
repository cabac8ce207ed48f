"""Training settings: every impossible one, typed or read from a file, is one sentence."""

from dataclasses import asdict

import pytest

from engine.config import MAX_CROP_PAD, TrainConfig, TrainingError, config_from_dict
from engine.spec import Volume


@pytest.mark.parametrize("name", ["lr", "momentum", "weight_decay", "gamma"])
def test_saved_settings_of_integers_too_large_for_a_float_are_one_sentence(name):
    with pytest.raises(TrainingError, match=f"'{name}' is a number too large to be a float"):
        config_from_dict(asdict(TrainConfig()) | {name: 10 ** 400})


@pytest.mark.parametrize("name,rule", [
    ("batch_size", "batch size must be from 1 to 16,777,216"),
    ("epochs", "number of epochs must be from 0 to 100,000"),
    ("step_epochs", "step length in epochs must be from 1 to 100,000"),
    ("crop_pad", f"crop padding must be from 0 to {MAX_CROP_PAD} pixels"),
])
def test_saved_counts_beyond_any_run_are_one_sentence(name, rule):
    with pytest.raises(TrainingError, match=rule):
        config_from_dict(asdict(TrainConfig()) | {name: 10 ** 30})


def test_crop_padding_is_a_few_pixels_and_smaller_than_the_images():
    TrainConfig(crop_pad=MAX_CROP_PAD).check()
    TrainConfig(crop_pad=7).check(Volume(8, 9, 1))
    with pytest.raises(TrainingError, match="smaller than the images' 8-pixel side, or a crop "
                                            "can hold no image at all; use at most 7"):
        TrainConfig(crop_pad=8).check(Volume(9, 8, 1))
