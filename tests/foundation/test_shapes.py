"""The notes' own worked examples, and properties of the analysis over random stacks."""

import time

from hypothesis import given, settings, strategies as st

from engine import shapes
from engine.shapes import GIB, analyse, format_bytes, output_size, window_fits
from engine.spec import CATALOGUE, NetworkSpec, Volume, make_layer, network


def conv(k=4, f=3, s=1, p=1, name="conv"):
    return make_layer("conv", name, filters=k, size=f, stride=s, pad=p)


def analyse_one(volume, layer):
    return analyse(network("t", volume, layer, make_layer("fc", "fc"), make_layer("softmax", "sm")))


def test_notes_7x7_input_3x3_filter():
    assert output_size(7, 3, 1, 0) == 5
    assert output_size(7, 3, 2, 0) == 3


def test_notes_w5_f3_p1():
    assert output_size(5, 3, 1, 1) == 5
    assert output_size(5, 3, 2, 1) == 3
    info = analyse_one((5, 5, 3), conv(f=3, s=3, p=1)).layers[1]
    assert info.output is None
    assert "(5 − 3 + 2·1)/3 + 1 = 2.333 is not a whole number" in info.error


def test_notes_w10_f3_p0_s2_is_invalid_with_a_fix():
    a = analyse_one((10, 10, 3), conv(f=3, s=2, p=0))
    info = a.layers[1]
    assert info.error == "(10 − 3 + 2·0)/2 + 1 = 4.5 is not a whole number; use S=1 or F=2"
    assert [f.text for f in info.fixes] == ["set S=1", "set F=2"]
    assert all(analyse(f.apply(a.spec)).valid for f in info.fixes)


def test_every_suggested_alternative_fits_and_the_sentence_names_them_in_order():
    a = analyse_one((32, 32, 3), conv(f=2, s=4, p=0))
    info = a.layers[1]
    assert [f.text for f in info.fixes] == ["set P=1", "set S=3", "set F=4"]  # nearest first
    assert info.error.endswith("; use P=1, S=3 or F=4")
    for fix in info.fixes:
        layer = fix.apply(a.spec).layers[1]
        assert window_fits(Volume(32, 32, 3), layer["size"], layer["stride"], layer["pad"])


def test_fixes_that_leave_the_whole_network_valid_come_first():
    # The notes' CIFAR-10 example with conv F=2 S=4 P=0: P=1 is the nearest change that
    # fits the conv, but its 9×9 output breaks the 2×2 pool below (4.5).
    spec = network("t", (32, 32, 3), conv(k=12, f=2, s=4, p=0), make_layer("relu", "relu"),
                   make_layer("pool", "pool"), make_layer("fc", "fc"), make_layer("softmax", "sm"))
    info = analyse(spec).layers[1]
    assert [f.text for f in info.fixes] == ["set S=2", "set F=4", "set P=1"]
    assert info.error.endswith("8.5 is not a whole number; use S=2, F=4 or P=1")
    valid = [analyse(f.apply(spec)).valid for f in info.fixes]
    assert valid == [True, True, False]


def test_without_a_valid_fix_those_that_add_no_error_below_come_first():
    # No loss yet (so nothing is valid): S=2 leaves the pool fine, P=1 breaks it.
    spec = network("t", (32, 32, 3), conv(k=12, f=2, s=4, p=0), make_layer("pool", "pool"))
    a = analyse(spec)
    assert a.network_error and [f.text for f in a.layers[1].fixes][:2] == ["set S=2", "set F=4"]
    assert not analyse(a.layers[1].fixes[0].apply(spec)).errors
    assert analyse(a.layers[1].fixes[-1].apply(spec)).errors


def test_ranking_fixes_is_bounded(monkeypatch):
    calls = []
    analyse_once = shapes._analyse
    monkeypatch.setattr(shapes, "_analyse", lambda *a: calls.append(1) or analyse_once(*a))
    broken = [conv(f=2, s=4, p=0, name=f"c{i}") for i in range(20)]
    analyse(network("t", (32, 32, 3), *broken))
    assert len(calls) == 1 + shapes.MAX_TRIALS
    calls.clear()
    big = network("t", (32, 32, 3), *broken, *(make_layer("relu", f"r{i}") for i in range(3000)))
    analyse(big)
    assert len(calls) == 1  # too large to try fixes on: nearest first


def test_alexnet_first_layer():
    info = analyse_one((227, 227, 3), conv(k=96, f=11, s=4, p=0)).layers[1]
    assert str(info.output) == "55×55×96"
    assert info.params == 34_944
    assert (info.weights, info.biases) == (11 * 11 * 3 * 96, 96)


def test_notes_demo_5x5x3_two_filters_stride2_pad1():
    info = analyse_one((5, 5, 3), conv(k=2, f=3, s=2, p=1)).layers[1]
    assert str(info.output) == "3×3×2"


def test_pool_224x224x64_to_112():
    info = analyse_one((224, 224, 64), make_layer("pool", "pool", size=2, stride=2)).layers[1]
    assert str(info.output) == "112×112×64" and info.params == 0


@given(st.integers(1, 300), st.integers(0, 5).map(lambda k: 2 * k + 1))
def test_same_padding_preserves_size(w, f):
    assert output_size(w, f, 1, (f - 1) // 2) == w


def test_not_positive_volume_is_explained():
    a = analyse_one((3, 3, 1), conv(f=5, s=1, p=0))
    info = a.layers[1]
    assert "is not positive" in info.error and info.fixes
    assert analyse(info.fixes[0].apply(a.spec)).valid


def test_non_square_input_reports_the_failing_side():
    info = analyse_one((8, 9, 1), conv(f=2, s=2, p=0)).layers[1]
    assert info.error.startswith("height: (9 − 2 + 2·0)/2 + 1 = 4.5")


def test_counts_for_fc_batchnorm_and_receptive_field():
    spec = network("t", (32, 32, 3), conv(k=8, f=5, s=1, p=2), make_layer("pool", "p"),
                   make_layer("batchnorm", "bn"), conv(k=8, f=3, s=1, p=1, name="c2"),
                   make_layer("fc", "fc", units=10), make_layer("softmax", "sm"))
    a = analyse(spec)
    assert a.valid
    conv1, pool, bn, conv2, fc, _ = a.layers[1:]
    assert conv1.macs == 32 * 32 * 8 * 5 * 5 * 3
    assert bn.params == 2 * 8
    assert fc.params == 16 * 16 * 8 * 10 + 10 and fc.macs == 16 * 16 * 8 * 10
    assert [conv1.receptive_field, pool.receptive_field, conv2.receptive_field] == [5, 6, 10]
    assert a.total_params == sum(i.params for i in a.layers)


def test_structural_errors_name_the_layer_and_fix():
    spec = NetworkSpec((conv(name="c1"), make_layer("softmax", "sm"), make_layer("relu", "r")))
    a = analyse(spec)
    assert "'c1'" in a.layers[0].error and "Input" in a.layers[0].error
    assert "'r' comes after the loss layer 'sm'" in a.layers[2].error


def test_a_missing_loss_is_one_problem_of_the_network_not_an_error_of_its_last_layer():
    scores = analyse(network("t", (8, 8, 1), make_layer("fc", "fc")))
    assert not scores.errors and not scores.valid
    assert scores.network_error == ("The network has no loss layer to train with; "
                                    "add a Softmax loss at the bottom.")
    assert analyse(scores.network_fixes[0].apply(scores.spec)).valid
    volume = analyse(network("t", (8, 8, 1), conv(), make_layer("relu", "r")))
    assert not volume.errors and [f.text for f in volume.network_fixes] == [
        "add a Fully-connected layer and a Softmax loss at the bottom"]
    assert analyse(volume.network_fixes[0].apply(volume.spec)).valid
    assert analyse(network("t", (8, 8, 1))).network_error.startswith("The network has no loss")


def test_the_loss_is_found_once_per_analysis_not_once_per_layer():
    layers = [make_layer("relu", f"r{i}") for i in range(16_000)]
    start = time.perf_counter()
    a = analyse(network("t", (8, 8, 1), *layers, make_layer("fc", "fc"), make_layer("softmax")))
    assert a.valid and time.perf_counter() - start < 5  # quadratic, it took over 10 s


def test_duplicate_names_are_an_error_with_a_rename_fix():
    spec = network("t", (8, 8, 1), conv(name="c"), conv(name="c"), conv(name="c"),
                   make_layer("fc", "fc"), make_layer("softmax", "sm"))
    a = analyse(spec)
    assert a.layers[1].error is None
    assert a.layers[2].error == ("'c' is already the name of a layer above; layer names must "
                                 "be unique; rename 'c' to 'c1'")
    assert [f.text for f in a.layers[3].fixes] == ["rename 'c' to 'c2'"]
    fixed = a.layers[3].fixes[0].apply(a.layers[2].fixes[0].apply(spec))
    assert analyse(fixed).valid and [l.name for l in fixed.layers[1:4]] == ["c", "c1", "c2"]


def test_inserting_fixes_never_make_a_duplicate_name():
    a = analyse(network("t", (8, 8, 1), conv(name="fc"), make_layer("softmax", "sm")))
    fixed = a.layers[2].fixes[0].apply(a.spec)  # add an FC above the loss: named fc1
    assert analyse(fixed).valid and fixed.layers[2].name == "fc1"


def test_loss_needs_class_scores():
    a = analyse(network("t", (8, 8, 1), conv(), make_layer("softmax", "sm")))
    assert "needs class scores 1×1×C but receives 8×8×4" in a.layers[2].error
    assert analyse(a.layers[2].fixes[0].apply(a.spec)).valid


def test_out_of_range_hyperparameter_is_an_error_with_fix():
    a = analyse_one((8, 8, 1), conv(s=0))
    assert a.layers[1].error == "Stride S=0 is not allowed: it must be at least 1; use S=1"
    assert analyse(a.layers[1].fixes[0].apply(a.spec)).valid


def test_memory_follows_the_notes():
    a = analyse(network("t", (32, 32, 3), conv(k=8), make_layer("relu", "r"),
                        make_layer("fc", "fc", units=10), make_layer("softmax", "sm")))
    m1, m2 = a.memory(1, "sgd"), a.memory(2, "adam")
    assert m2.activations == 2 * m1.activations
    assert m2.optimizer_state == 2 * m2.parameters and m1.optimizer_state == 0
    assert m1.parameters == a.total_params * 4
    assert m2.input_batch == 2 * 32 * 32 * 3 * 4
    n = a.largest_batch(4 * GIB, "momentum")
    assert a.memory(n, "momentum").total <= 4 * GIB < a.memory(n + 1, "momentum").total


def test_in_place_activations_add_no_memory():
    base = network("t", (16, 16, 3), conv(k=8), make_layer("fc", "fc"), make_layer("softmax", "s"))
    with_relu = base.inserted(2, [make_layer("relu", "r")])
    assert analyse(with_relu).total_activations == analyse(base).total_activations


def test_format_bytes_binary_units():
    assert format_bytes(512) == "512 B"
    assert format_bytes(2048) == "2.0 KiB"
    assert format_bytes(93 * 1024 ** 2) == "93.0 MiB"
    assert format_bytes(3 * GIB) == "3.0 GiB"


# --- property tests over random stacks ------------------------------------------------

def _layer(draw_type, draw):
    kind = CATALOGUE[draw_type]
    params = {}
    for p in kind.params:
        if p.choices:
            params[p.name] = draw(st.sampled_from(p.choices))
        elif p.kind is int:
            params[p.name] = draw(st.integers(int(p.minimum) - 1, 7))
        else:
            params[p.name] = draw(st.floats(0, 1))
    return make_layer(draw_type, f"{draw_type}{draw(st.integers(0, 99))}", **params)


@st.composite
def random_stacks(draw):
    types = draw(st.lists(st.sampled_from(sorted(CATALOGUE)), min_size=0, max_size=10))
    return NetworkSpec(tuple(_layer(t, draw) for t in types))


@settings(max_examples=300, deadline=None)
@given(random_stacks())
def test_analysis_never_crashes_and_errors_name_a_layer(spec):
    a = analyse(spec)
    assert len(a.layers) == len(spec.layers)
    for info in a.layers:
        if info.error:
            assert f"'{info.layer.name}'" in info.error or any(
                s in info.error for s in (" = ", "is not allowed")), info.error
        if info.output is not None:
            assert info.output.width >= 1 and info.output.height >= 1 and info.output.depth >= 1
    if a.valid:
        assert all(i.output is not None for i in a.layers)
    for info in a.errors:
        for fix in info.fixes:  # each mends the error it is offered for
            after = analyse(fix.apply(spec))
            still = [i.error for i in after.layers if i.layer.id == info.layer.id]
            assert still != [info.error], (info.error, fix.text)


@settings(max_examples=150, deadline=None)
@given(random_stacks())
def test_following_the_first_fix_of_each_error_ends_in_a_valid_network(spec):
    """Unless an error says what to do but has no fix to apply ("change the input size")."""
    for _ in range(3 * len(spec.layers) + 3):
        a = analyse(spec)
        fixes = [i.fixes for i in a.errors] + [a.network_fixes]
        if a.valid or not any(fixes):
            break
        spec = next(f for f in fixes if f)[0].apply(spec)
    a = analyse(spec)
    assert a.valid or not any(i.fixes for i in a.errors) and not a.network_fixes, (
        [i.error for i in a.errors], a.network_error)


def test_notes_rule_of_thumb():
    a = analyse(network("t", (32, 32, 3), conv(k=8), make_layer("relu", "r"),
                        make_layer("fc", "fc", units=10), make_layer("softmax", "sm")))
    volumes = 32 * 32 * 3 + 32 * 32 * 8 + 10 + 10  # input, conv, fc, softmax (ReLU in place)
    assert a.notes_rule_bytes(4, "adam") == 2 * 4 * volumes * 4 + a.total_params * 4 * 4
