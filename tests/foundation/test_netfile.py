"""Network files: round trips, strict validation with plain sentences, atomic saves, fuzzing."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine import netfile
from engine.errors import NetworkFileError
from engine.netfile import dumps, load_network, loads, save_network
from engine.resources import network_template, templates
from engine.shapes import analyse
from engine.spec import CATALOGUE, make_layer, network

def every_layer_network():
    layers = [make_layer(t, f"{t}_layer") for t in CATALOGUE if t != "input"]
    return network("All layers", (16, 12, 3), *layers)


def test_round_trip_every_layer_type(tmp_path):
    spec = every_layer_network()
    path = tmp_path / "net.json"
    save_network(spec, path)
    assert load_network(path) == spec
    assert loads(dumps(spec)) == spec


def test_templates_load_and_are_valid():
    assert set(templates()) >= {"lenet5", "alexnet", "zfnet", "vgg16", "cifar10", "default"}
    for name in templates():
        assert analyse(load_network(network_template(name))).valid, name


def mutate(data, **changes):
    return json.dumps({**data, **changes})


BASE = json.loads(dumps(network("n", (8, 8, 1), make_layer("conv", "c1"),
                                make_layer("fc", "fc"), make_layer("softmax", "sm"))))


@pytest.mark.parametrize("text, expected", [
    ("", "is empty"),
    ("{\"format\": \"convnet-designer\", \"version\": 1, \"layers\": [", "JSON breaks at line 1"),
    ("[1, 2]", "holds a JSON list"),
    (json.dumps({"version": 1, "layers": []}), 'no "format"'),
    (mutate(BASE, version=7), "newer ConvNet Designer (format version 7)"),
    (mutate(BASE, version="1"), '"version" is missing or not a whole number'),
    (mutate(BASE, layers=[]), 'no "layers" list'),
])
def test_malformed_files_give_one_sentence(text, expected):
    with pytest.raises(NetworkFileError) as e:
        loads(text, "bad.json")
    message = str(e.value)
    assert message.startswith("'bad.json' ") and expected in message and message.endswith(".")
    assert "\n" not in message and "Traceback" not in message


def layer_problem(**fields):
    layers = [dict(l) for l in BASE["layers"]]
    layers[1].update(fields)
    with pytest.raises(NetworkFileError) as e:
        loads(mutate(BASE, layers=layers), "net.json")
    return str(e.value)


def test_layer_field_problems_name_layer_and_field():
    assert "layer 2 ('c1'): stride must be at least 1, not -2" in layer_problem(stride=-2)
    assert "layer 2 ('c1'): size must be a whole number, not 2.5" in layer_problem(size=2.5)
    assert "layer 2 ('c1'): filters must be a number" in layer_problem(filters="many")
    assert "layer 2 ('c1') has no field \"strid\"" in layer_problem(strid=2)
    assert 'layer 2 has unknown type "convolution"' in layer_problem(type="convolution")


@pytest.mark.parametrize("where, text, expected", [
    ("network", "\ud800 net", "its name '\\ud800 net' is not valid Unicode text"),
    ("name", "c\udfff1", "layer 2 ('c\\udfff1') has a name that is not valid Unicode text"),
    ("id", "\udc80", "layer 2 ('c1') has an \"id\" that is not text"),
])
def test_text_that_is_not_unicode_is_refused_naming_where(where, text, expected):
    """JSON escapes can put lone surrogates in a string, which can be neither printed to a
    UTF-8 terminal nor saved again; the message shows them escaped."""
    layers = [dict(l) for l in BASE["layers"]]
    if where != "network":
        layers[1][where] = text
    data = {**BASE, "layers": layers, "name": text if where == "network" else "n"}
    with pytest.raises(NetworkFileError) as e:
        loads(json.dumps(data), "net.json")  # ensure_ascii: the file holds "\\ud800"
    assert expected in str(e.value) and str(e.value).isprintable()


def test_names_in_any_script_still_load():
    spec = loads(mutate(BASE, name="Réseau 卷积 ✓"))
    assert spec.name == "Réseau 卷积 ✓"


def test_number_past_pythons_digit_limit_is_one_sentence():
    text = mutate(BASE).replace('"filters": 32', '"filters": ' + "9" * 4301)
    with pytest.raises(NetworkFileError, match="a number of more than 4,300 digits"):
        loads(text, "net.json")


def test_values_from_the_file_are_quoted_short_and_on_one_line():
    message = layer_problem(type="x" * 10_000 + "\n")
    assert len(message) < 400 and message.isprintable()


def test_duplicate_ids_name_both_layers():
    layers = [dict(l) for l in BASE["layers"]]
    layers[3]["id"] = layers[1]["id"]
    with pytest.raises(NetworkFileError, match=r"layers 2 and 4 share the id"):
        loads(mutate(BASE, layers=layers))


def test_more_layers_than_any_network_has_are_refused_before_any_is_built(monkeypatch):
    def text(count):
        return mutate(BASE, layers=[{"type": "input"}] + [{"type": "relu"}] * (count - 1))

    assert len(loads(text(netfile.MAX_LAYERS))) == netfile.MAX_LAYERS
    monkeypatch.setattr(netfile, "_layer_from_dict", lambda *_: pytest.fail("a layer was built"))
    with pytest.raises(NetworkFileError, match="it has 1,001 layers, more than any network "
                                               "needs; a network file holds at most 1,000"):
        loads(text(netfile.MAX_LAYERS + 1))


def test_missing_input_layer():
    layers = BASE["layers"][1:]
    with pytest.raises(NetworkFileError, match="is not an Input layer"):
        loads(mutate(BASE, layers=layers))


def test_missing_defaults_are_filled_and_ids_generated():
    spec = loads(json.dumps({"format": "convnet-designer", "version": 1, "layers": [
        {"type": "input", "width": 4, "height": 4, "depth": 1}, {"type": "conv"}]}))
    assert spec.layers[1].params == CATALOGUE["conv"].defaults
    assert spec.layers[0].id != spec.layers[1].id


def test_not_a_file(tmp_path):
    with pytest.raises(NetworkFileError, match="does not exist"):
        load_network(tmp_path / "missing.json")
    with pytest.raises(NetworkFileError, match="is a folder, not a file"):
        load_network(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NetworkFileError, match="not UTF-8"):
        load_network(tmp_path / "bin.json")


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    save_network(every_layer_network(), path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(netfile.os, "replace", crash)
    with pytest.raises(NetworkFileError, match="Could not save"):
        save_network(network("other", (4, 4, 1)), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.json"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_network_file_error(raw):
    try:
        loads(raw)
    except NetworkFileError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 3), st.sampled_from(["type", "name", "id", "size", "stride", "pad", "filters",
                                           "units", "mode", "p", "zzz"]), json_values)
def test_mutated_files_only_raise_network_file_error(layer_index, key, value):
    layers = [dict(l) for l in BASE["layers"]]
    layers[layer_index][key] = value
    try:
        spec = loads(mutate(BASE, layers=layers))
    except NetworkFileError:
        return
    analyse(spec)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_document_only_raises_network_file_error(value):
    try:
        loads(json.dumps(value))
    except NetworkFileError:
        pass


@pytest.mark.parametrize("where", ["network", "layer"])
def test_a_name_with_control_characters_is_refused(where):
    data = {"format": "convnet-designer", "version": 1, "name": "n", "layers": [
        {"type": "input", "name": "input", "width": 8, "height": 8, "depth": 1},
        {"type": "softmax", "name": "softmax"}]}
    if where == "network":
        data["name"] = "red\x1b[31m"
    else:
        data["layers"][1]["name"] = "soft\x1b[2Jmax"
    with pytest.raises(NetworkFileError, match="control characters"):
        loads(json.dumps(data))
