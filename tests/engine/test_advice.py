"""The notes' advice on a design (shares, filters × positions, hints) and the measured time
per layer kept for the inspector."""

import json

import pytest

from engine.advice import (
    HEAVY_DROPOUT, AdviceError, batch_size_hint, conv_stages, design_hints, shares,
)
from engine.layer_timings import (
    TimingsError, load_timings, measure, save_timings, structure_key, timings_path,
)
from engine.netfile import load_network, save_network
from engine.resources import network_template
from engine.runs import runs_folder
from engine.shapes import analyse
from engine.spec import make_layer, network
from engine.task import Cancelled, TaskState
from main import main

TEMPLATES = ("lenet5", "cifar10", "alexnet", "vgg16", "default")


def template(name):
    return analyse(load_network(network_template(name)))


def named(analysis, name):
    return next(i for i in analysis.layers if i.layer.name == name)


def tower(*layers):
    return network("tower", (32, 32, 3), *layers, make_layer("fc", units=10),
                   make_layer("softmax"))


def conv(filters, name):
    return make_layer("conv", name, filters=filters, size=3, pad=1)


@pytest.mark.parametrize("name", TEMPLATES)
def test_shares_sum_to_a_hundred_percent(name):
    values = shares(template(name)).values()
    for part in ("compute", "memory", "parameters"):
        assert sum(getattr(s, part) for s in values) == pytest.approx(100)


def test_vgg16_memory_and_compute_early_parameters_in_the_first_fc_layer():
    vgg = template("vgg16")
    share = shares(vgg)
    fc6 = named(vgg, "fc6")
    assert fc6.params == 7 * 7 * 512 * 4096 + 4096 == 102_764_544  # the notes' ~102M of 138M
    assert share[fc6.layer.id].parameters == pytest.approx(100 * 102_764_544 / 138_357_544)
    fc = [share[i.layer.id] for i in vgg.layers if i.layer.type == "fc"]
    assert sum(s.parameters for s in fc) > 89
    # The first two convolutions' 224×224×64 volumes, next to ~15.2M floats per image.
    first = [share[named(vgg, n).layer.id] for n in ("conv1_1", "conv1_2")]
    assert sum(s.memory for s in first) == pytest.approx(
        100 * 2 * 224 * 224 * 64 / vgg.total_activations)
    assert sum(s.memory for s in first) > 40
    convs = [i for i in vgg.layers if i.layer.type == "conv"]
    early, late = convs[:7], convs[7:]  # blocks 1–3, blocks 4–5
    assert sum(share[i.layer.id].compute for i in early) > 60
    assert sum(share[i.layer.id].compute for i in early) > 1.5 * sum(
        share[i.layer.id].compute for i in late)
    assert sum(share[i.layer.id].compute for i in convs) > 99
    assert sum(share[i.layer.id].memory for i in early) > 5 * sum(
        share[i.layer.id].memory for i in late)


def test_filters_times_positions_and_ratio_to_the_first_conv():
    lenet = template("lenet5")
    stages = conv_stages(lenet)
    convs = [i for i in lenet.layers if i.layer.type == "conv"]
    assert [stages[i.layer.id].product for i in convs] == [6 * 28 * 28, 16 * 10 * 10, 120]
    assert [stages[i.layer.id].ratio for i in convs] == pytest.approx(
        [1, 1600 / 4704, 120 / 4704])
    assert all(i.layer.type == "conv" for i in lenet.layers if i.layer.id in stages)


@pytest.mark.parametrize("name", ("lenet5", "cifar10", "vgg16", "default"))
def test_the_notes_templates_get_no_hint(name):
    assert design_hints(template(name)) == []


def test_alexnet_narrowing_its_last_conv_gets_the_filters_hint():
    """AlexNet (and ZF Net) end their conv tower 384 → 384 → 256: legitimately, but against
    the notes' rule of thumb, which the hint says gently."""
    alexnet = template("alexnet")
    [hint] = design_hints(alexnet)
    assert hint.layer_id == named(alexnet, "conv5").layer.id
    assert "256 filters, fewer than the 384 of 'conv4'" in hint.text


def test_a_conv_with_fewer_filters_than_the_conv_above_gets_a_hint():
    analysis = analyse(tower(conv(32, "wide"), make_layer("relu"), conv(16, "narrow"),
                             conv(16, "same"), conv(64, "wider")))
    hints = design_hints(analysis)
    assert [h.layer_id for h in hints] == [named(analysis, "narrow").layer.id]
    assert "'narrow' has 16 filters, fewer than the 32 of 'wide'" in hints[0].text


def test_heavy_dropout_between_conv_layers_gets_a_hint_but_not_in_the_fc_head():
    analysis = analyse(tower(
        conv(16, "c1"), make_layer("dropout", "early", p=HEAVY_DROPOUT),
        conv(32, "c2"), make_layer("dropout", "light", p=0.2),
        conv(32, "c3"), make_layer("dropout", "late", p=0.8)))
    hints = design_hints(analysis)
    assert [h.layer_id for h in hints] == [named(analysis, "early").layer.id]
    assert "less dropout in early conv layers" in hints[0].text


def test_hints_are_not_errors():
    analysis = analyse(tower(conv(32, "c1"), conv(8, "c2")))
    assert design_hints(analysis) and analysis.valid


def test_a_smaller_batch_with_the_same_learning_rate_gets_a_hint_with_a_scaled_rate():
    hint = batch_size_hint(64, 16, 0.01, 0.01)
    assert hint.layer_id is None
    assert hint.suggested_lr == pytest.approx(0.0025)
    assert "64 to 16" in hint.text and "0.0025" in hint.text
    assert batch_size_hint(64, 16, 0.01, 0.02).suggested_lr == pytest.approx(0.0025)


@pytest.mark.parametrize("old_batch, new_batch, old_lr, new_lr", [
    (64, 16, 0.01, 0.005),   # the rate went down too
    (16, 64, 0.01, 0.01),    # a larger batch
    (32, 32, 0.01, 0.01),
])
def test_no_batch_hint_when_the_rate_follows_or_the_batch_grows(old_batch, new_batch, old_lr,
                                                                new_lr):
    assert batch_size_hint(old_batch, new_batch, old_lr, new_lr) is None


@pytest.mark.parametrize("args", [(0, 16, 0.01, 0.01), (64, 16, 0.0, 0.01),
                                  (64, 16, 0.01, -1.0)])
def test_batch_hint_refuses_impossible_settings_in_one_sentence(args):
    with pytest.raises(AdviceError, match=r"^A [a-z ]+ must be"):
        batch_size_hint(*args)


# --- measured time per layer ------------------------------------------------------------------
@pytest.fixture(scope="module")
def lenet_measured():
    spec = load_network(network_template("lenet5"))
    return spec, measure(TaskState(), spec, 4, "cpu", None, repeats=1).timings


def test_measured_timings_are_saved_and_loaded_for_the_same_network(lenet_measured, tmp_path):
    spec, timings = lenet_measured
    assert [t.type for t in timings.layers] == [layer.type for layer in spec.layers[1:-1]]
    assert all(t.forward_s > 0 for t in timings.layers)
    path = save_timings(timings, spec, tmp_path)
    assert path == timings_path(tmp_path, spec)
    assert load_timings(spec, tmp_path) == timings
    renamed = spec.replaced(spec.layers[1].renamed("first"))
    assert load_timings(renamed, tmp_path) == timings


def test_timings_are_not_found_for_another_network(lenet_measured, tmp_path):
    spec, timings = lenet_measured
    save_timings(timings, spec, tmp_path)
    wider = spec.replaced(spec.layers[1].with_params(filters=8))
    assert load_timings(wider, tmp_path) is None


def test_a_timings_file_of_another_network_is_refused(lenet_measured, tmp_path):
    spec, timings = lenet_measured
    other = load_network(network_template("cifar10"))
    save_timings(timings, spec, tmp_path)
    timings_path(tmp_path, spec).rename(timings_path(tmp_path, other))
    with pytest.raises(TimingsError, match="was measured on another network"):
        load_timings(other, tmp_path)


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],
    lambda text: "[]",
    lambda text: text.replace('"forward_s": ', '"forward_s": -'),
    lambda text: text.replace('"batch_size": 4', '"batch_size": "four"'),
    lambda text: text.replace('"layers": [', '"layers": [{"name": 1},'),
])
def test_a_malformed_timings_file_gives_one_sentence(lenet_measured, tmp_path, damage):
    spec, timings = lenet_measured
    path = save_timings(timings, spec, tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(TimingsError, match=r"is damaged; measure again to replace it\.$"):
        load_timings(spec, tmp_path)


def test_measuring_can_be_cancelled():
    state = TaskState()
    state.cancel()
    with pytest.raises(Cancelled):
        measure(state, load_network(network_template("lenet5")), 2, "cpu", None)


def test_bench_saves_its_timings_where_the_window_finds_them(tmp_path, capsys):
    spec = load_network(network_template("lenet5"))
    path = tmp_path / "net.json"
    save_network(spec, path)
    assert main(["bench", str(path), "--batch-size", "2", "--repeats", "1"]) == 0
    assert "Saved for the window's inspector" in capsys.readouterr().out
    timings = load_timings(load_network(path), runs_folder(path))
    assert timings.batch_size == 2 and timings.structure == structure_key(spec)
    assert json.loads(timings_path(runs_folder(path), spec).read_text())["version"] == 1
