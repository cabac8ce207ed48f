"""The whole network at once: the pictures (plain NumPy) and the view that shows them."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from designer.training.images import GAP, GAP_RGB32, tile_grid, to_rgb32
from designer.training.network_pictures import (
    COLUMN_HEIGHT, MAP_TILE, MAX_TILES, MAX_UNITS, TOP_CLASSES, NetworkRequest,
    filter_pictures, input_picture, network_picture, scores_picture, volume_picture,
)
from designer.training.network_view import NetworkView
from engine.netfile import load_network
from engine.resources import network_template
from engine.spec import Volume, make_layer, network
from tests.engine.trainer_helpers import make_trainer, quadrant_data


def rgb(pixel) -> tuple[int, int, int]:
    """A packed 0xffRRGGBB pixel as (R, G, B)."""
    p = int(pixel)
    return (p >> 16) & 255, (p >> 8) & 255, p & 255


@pytest.fixture(scope="module")
def run():
    """A fresh run of the small net (conv 8×8×4, relu, batchnorm, pool 4×4×4, fc 3, softmax)
    on the 8×8×1 quadrant images."""
    return make_trainer().run


@pytest.fixture(scope="module")
def data():
    return quadrant_data()


def two_conv_net():
    """default.json's layers: 8×8×1, conv 16, relu, pool, conv 32, relu, pool, fc 3."""
    return network("two convs", (8, 8, 1),
                   make_layer("conv", "conv1", filters=16, size=3, pad=1), make_layer("relu", "relu1"),
                   make_layer("pool", "pool1", size=2, stride=2),
                   make_layer("conv", "conv2", filters=32, size=3, pad=1), make_layer("relu", "relu2"),
                   make_layer("pool", "pool2", size=2, stride=2),
                   make_layer("fc", "fc", units=3), make_layer("softmax"))


# --- pictures, without Qt -------------------------------------------------------------------
def test_a_picture_per_layer_with_a_tile_per_depth_slice(run, data):
    picture = network_picture(run, data.val_x[2], 2, run_key="r")
    assert (picture.run_key, picture.sample) == ("r", 2)
    assert [p.layer_id for p in picture.layers] == [l.id for l in run.spec.layers]
    assert [p.title for p in picture.layers] == [l.name for l in run.spec.layers]
    outputs = run.layer_outputs(data.val_x[2])
    for layer, output, p in zip(run.spec.layers[1:-1], outputs[1:-1], picture.layers[1:-1]):
        h, w, d = output.shape
        assert p.caption == f"{layer.type} · {Volume(w, h, d)}"
        assert p.mosaic.count == d
        np.testing.assert_allclose(p.mosaic.ranges[:, 0], output.min(axis=(0, 1)))
        np.testing.assert_allclose(p.mosaic.ranges[:, 1], output.max(axis=(0, 1)))


def test_the_input_is_the_image_itself_with_its_class(run, data):
    image = data.val_x[0]
    picture = network_picture(run, image, 0, label=int(data.val_y[0])).layers[0]
    assert picture.caption == f"input · 8×8×1 · class {data.class_names[data.val_y[0]]}"
    m = picture.mosaic
    assert m.count == 1 and m.image.shape[0] >= 64
    f = m.tile_height // 8
    assert rgb(m.image[f * 3, f * 5]) == (image[3, 5, 0],) * 3    # grey, not auto-contrasted
    assert picture.describe(0) == f"input image: pixel values {image.min()} … {image.max()}"


def test_colour_images_keep_their_colours():
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[..., 2] = 200, 40
    layer = make_layer("input", width=32, height=32, depth=3)
    m = input_picture(layer, image, None).mosaic
    assert rgb(m.image[5, 5]) == (200, 0, 40)


@pytest.mark.parametrize("side, tile", [(2, 32), (4, 32), (8, 32), (16, 32), (28, 28), (32, 32),
                                        (64, 32), (224, 44)])
def test_maps_are_drawn_at_a_readable_size(side, tile):
    maps = np.random.default_rng(0).normal(size=(side, side, 6)).astype(np.float32)
    m = volume_picture(make_layer("conv"), maps).mosaic
    assert m.tile_height == m.tile_width == tile


@pytest.mark.parametrize("depth, cols", [(6, 1), (12, 2), (16, 2), (32, 4), (64, 4)])
def test_a_column_fits_its_height_up_to_four_tiles_wide(depth, cols):
    maps = np.ones((32, 32, depth), np.float32)
    m = volume_picture(make_layer("conv"), maps).mosaic
    assert m.cols == cols
    if depth <= 32:
        assert m.image.shape[0] <= COLUMN_HEIGHT


def test_deep_volumes_are_cut_and_the_caption_says_so():
    maps = np.ones((4, 4, 300), np.float32)
    p = volume_picture(make_layer("conv"), maps)
    assert p.mosaic.count == MAX_TILES
    assert p.caption == f"conv · 4×4×300 · first {MAX_TILES} of 300 slices shown"


@pytest.mark.parametrize("depth", [3, 10, 84, 120, 4096])
def test_a_vector_is_a_square_per_unit_on_one_scale(depth):
    vector = np.linspace(-1, 2, depth, dtype=np.float32)
    p = volume_picture(make_layer("fc", "fc"), vector.reshape(1, 1, depth))
    shown = min(depth, MAX_UNITS)
    assert p.mosaic.count == shown
    assert p.mosaic.tile_height == p.mosaic.tile_width >= 8
    assert p.mosaic.image.shape[0] <= COLUMN_HEIGHT + 3 * 9
    assert rgb(p.mosaic.image[0, 0]) == (0, 0, 0)                 # the lowest value: black
    np.testing.assert_allclose(p.mosaic.ranges[:, 0], vector[:shown])
    assert p.describe(1) == f"fc unit 1: value {vector[1]:.3g}".replace("-", "−")
    assert p.caption.startswith(f"fc · 1×1×{depth}")
    assert ("first 512 of 4096 units shown" in p.caption) == (depth > MAX_UNITS)


def test_the_loss_layer_is_its_best_classes_with_their_names(run, data):
    picture = network_picture(run, data.val_x[1], 1).layers[-1]
    probabilities = run.predict(data.val_x[1:2])[0]
    assert picture.mosaic is None
    assert [s.name for s in picture.scores] == [data.class_names[i]
                                                for i in np.argsort(probabilities)[::-1]]
    np.testing.assert_allclose([s.value for s in picture.scores], np.sort(probabilities)[::-1],
                               rtol=1e-5)
    best = picture.scores[0]
    assert best.bar == pytest.approx(best.value) and best.text == f"{100 * best.value:.1f} %"
    assert picture.caption == "softmax · 1×1×3 · probabilities"
    assert picture.describe(0) == f"softmax: {best.name} {best.text}"


def test_svm_scores_are_bars_between_the_worst_and_best_and_many_classes_are_cut():
    values = np.linspace(-3, 2, 15).astype(np.float32)
    names = [f"class {i}" for i in range(15)]
    p = scores_picture(make_layer("svm"), values, names)
    assert len(p.scores) == TOP_CLASSES
    assert [s.name for s in p.scores[:2]] == ["class 14", "class 13"]
    assert p.scores[0].bar == 1 and p.scores[0].text == "2"
    assert p.caption == f"svm · 1×1×15 · scores · first {TOP_CLASSES} of 15 classes shown"


def test_a_diverged_run_draws_black_and_empty_bars_rather_than_failing():
    assert rgb(to_rgb32(np.array([[[np.nan]]]))[0, 0, 0]) == (0, 0, 0)
    p = scores_picture(make_layer("softmax"), np.array([np.nan, 0.5], np.float32), ["a", "b"])
    assert all(0 <= s.bar <= 1 for s in p.scores)


def test_filters_of_every_convolution_a_tile_per_filter():
    run = make_trainer(two_conv_net()).run
    pictures = filter_pictures(run)
    convs = [l for l in run.spec.layers if l.type == "conv"]
    assert [p.layer_id for p in pictures] == [l.id for l in convs]
    assert [p.mosaic.count for p in pictures] == [16, 32]
    assert pictures[0].caption == "conv · 16 filters 3×3×1 · grey"
    assert pictures[1].caption == "conv · 32 filters 3×3×16 · mean over 16 slices"
    w = run.weights(convs[1].id)["W"][..., 5]
    assert pictures[1].describe(5) == (f"conv2 filter 5 (3×3×16): weights {w.min():.3g} … "
                                       f"{w.max():.3g}").replace("-", "−")
    assert pictures[0].mosaic.tile_height >= MAP_TILE - 2


def test_rgb_filters_are_drawn_in_colour():
    spec = network("rgb", (8, 8, 3), make_layer("conv", filters=5, size=3, pad=1),
                   make_layer("fc", units=3), make_layer("softmax"))
    data = quadrant_data()
    data.train_x, data.val_x = (np.repeat(x, 3, axis=3) for x in (data.train_x, data.val_x))
    (picture,) = filter_pictures(make_trainer(spec, data).run)
    assert picture.caption == "conv · 5 filters 3×3×3 · RGB"
    tile = picture.mosaic.image[:picture.mosaic.tile_height, :picture.mosaic.tile_width]
    assert any(len(set(rgb(p))) > 1 for p in tile.ravel())     # not grey


def test_packed_tiles_sit_on_their_grid_with_gaps_between():
    tiles = to_rgb32(np.stack([np.full((3, 2), k / 10) for k in range(5)]))
    m = tile_grid(tiles, 2, np.zeros((5, 2)))
    assert m.image.shape == (3 * 3 + 2 * GAP, 2 * 2 + GAP)
    for k in range(5):
        r, c = divmod(k, 2)
        assert m.tile_at(r * (3 + GAP), c * (2 + GAP)) == k
        assert rgb(m.image[r * (3 + GAP), c * (2 + GAP)]) == (int(k * 25.5 + 0.5),) * 3
    assert m.image[3, 0] == GAP_RGB32 and m.image[2 * (3 + GAP), 2] == GAP_RGB32


def test_the_pictures_are_computed_without_qt():
    code = ("import sys, designer.training.network_pictures\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the view -------------------------------------------------------------------------------
@pytest.fixture
def view(qtbot):
    v = NetworkView()
    qtbot.addWidget(v)
    v.resize(1366, 400)
    return v


@pytest.fixture
def shown(qtbot, view):
    view.show()
    qtbot.waitExposed(view)
    return view


def requests(view):
    received = []
    view.wanted.connect(received.append)
    return received


def canvas(view, layer_id, filters=False):
    return view.strips[filters].columns[layer_id].canvas


def move_mouse(widget, x, y):
    event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(x, y),
                              QtCore.QPointF(widget.mapToGlobal(QtCore.QPoint(x, y))),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.MouseButton.NoButton,
                              QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)


def test_a_column_per_layer_showing_its_picture(shown, run, data):
    shown.set_run(run.spec, len(data.val_x), "r1")
    columns = shown.strips[False].columns
    assert list(columns) == [l.id for l in run.spec.layers]
    assert [c.title.text() for c in columns.values()] == [l.name for l in run.spec.layers]
    picture = network_picture(run, data.val_x[0], 0, run_key="r1")
    shown.show_activations(picture)
    for p in picture.layers:
        assert columns[p.layer_id].canvas.picture is p
        assert columns[p.layer_id].caption.text() == p.caption
    conv = picture.layers[1]
    assert canvas(shown, conv.layer_id).size() == QtCore.QSize(conv.mosaic.image.shape[1],
                                                               conv.mosaic.image.shape[0])
    shown.grab()     # paints every column, bars included


def test_pointing_at_a_tile_or_bar_says_what_it_is(shown, run, data):
    shown.set_run(run.spec, len(data.val_x), "r1")
    picture = network_picture(run, data.val_x[0], 0, run_key="r1")
    shown.show_activations(picture)
    conv, loss = picture.layers[1], picture.layers[-1]
    m = conv.mosaic
    r, c = divmod(1, m.cols)                                   # the second tile
    move_mouse(canvas(shown, conv.layer_id), c * (m.tile_width + GAP) + 1,
               r * (m.tile_height + GAP) + 1)
    low, high = m.ranges[1]
    assert shown.hover.text() == (f"conv depth slice 1: values {low:.3g} … {high:.3g}"
                                  .replace("-", "−"))
    bars = canvas(shown, loss.layer_id)
    move_mouse(bars, 5, bars.height() - 2)
    assert shown.hover.text() == f"softmax: {loss.scores[-1].name} {loss.scores[-1].text}"
    QtWidgets.QApplication.sendEvent(bars, QtCore.QEvent(QtCore.QEvent.Type.Leave))
    assert shown.hover.text().strip() == ""


def test_filters_show_a_column_per_convolution_with_a_tile_per_filter(shown, data):
    run = make_trainer(two_conv_net()).run
    shown.set_run(run.spec, len(data.val_x), "r1")
    shown.filters_button.click()
    convs = [l.id for l in run.spec.layers if l.type == "conv"]
    assert list(shown.strips[True].columns) == convs
    assert shown.stack.currentWidget() is shown.strips[True]
    assert not shown.sample.isEnabled()
    shown.show_filters(filter_pictures(run), "r1")
    assert [canvas(shown, i, True).picture.mosaic.count for i in convs] == [16, 32]
    move_mouse(canvas(shown, convs[0], True), 1, 1)
    assert shown.hover.text().startswith("conv1 filter 0 (3×3×1): weights ")


def test_a_network_without_convolutions_offers_no_filters(view, data):
    spec = network("mlp", (8, 8, 1), make_layer("fc", units=3), make_layer("softmax"))
    view.filters_button.setEnabled(True)
    view.filters_button.setChecked(True)
    view.set_run(spec, len(data.val_x), "r1")
    assert not view.filters_button.isEnabled() and not view.filters_shown


def test_highlight_marks_a_column_and_scrolls_it_into_view(qtbot, view, data):
    spec = load_network(network_template("lenet5"))
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    view.set_run(spec, len(data.val_x), "r1")
    last = spec.layers[-2]
    view.highlight(last.id)
    strip = view.strips[False]
    assert [c.marked for c in strip.columns.values()] == [l.id == last.id for l in spec.layers]
    qtbot.waitUntil(lambda: strip.horizontalScrollBar().value() > 0)
    column = strip.columns[last.id]
    left = column.mapTo(strip.viewport(), QtCore.QPoint(0, 0)).x()
    assert 0 <= left and left + column.width() <= strip.viewport().width()
    view.highlight(spec.layers[0].id)
    qtbot.waitUntil(lambda: strip.horizontalScrollBar().value() == 0)
    assert not column.marked


def test_the_highlight_follows_into_the_filters_and_a_new_run(view, data):
    run = make_trainer(two_conv_net()).run
    conv2 = run.spec.layers[4]
    view.set_run(run.spec, len(data.val_x), "r1")
    view.highlight(conv2.id)
    assert view.strips[True].columns[conv2.id].marked
    view.set_run(run.spec, len(data.val_x), "r2")
    assert view.strips[False].columns[conv2.id].marked


def test_pictures_of_another_run_image_or_mode_are_dropped(shown, run, data):
    shown.set_run(run.spec, len(data.val_x), "r1")
    shown.sample.setValue(3)                                   # validation image index 2
    first = run.spec.layers[0].id
    for key, sample in (("r0", 2), ("r1", 0)):
        shown.show_activations(network_picture(run, data.val_x[sample], sample, run_key=key))
        assert canvas(shown, first).picture is None
    shown.show_filters(filter_pictures(run), "r1")             # not the mode shown
    assert all(c.canvas.picture is None for c in shown.strips[True].columns.values())
    shown.filters_button.click()
    shown.show_activations(network_picture(run, data.val_x[2], 2, run_key="r1"))
    assert canvas(shown, first).picture is None
    shown.show_filters(filter_pictures(run), "r0")
    assert all(c.canvas.picture is None for c in shown.strips[True].columns.values())
    shown.show_filters(filter_pictures(run), "r1")
    assert all(c.canvas.picture is not None for c in shown.strips[True].columns.values())


def test_a_new_run_or_reset_clears_the_old_pictures(shown, run, data):
    shown.set_run(run.spec, len(data.val_x), "r1")
    shown.show_activations(network_picture(run, data.val_x[0], 0, run_key="r1"))
    shown.set_run(run.spec, len(data.val_x), "r2")
    assert all(c.canvas.picture is None for c in shown.strips[False].columns.values())
    shown.reset()
    assert shown.strips[False].columns == {} and shown.run_key is None
    assert shown.caption.text().startswith("Train or open a checkpoint")


def test_the_sample_chooser_counts_validation_images_from_one(view, run, data):
    view.set_run(run.spec, 15, "r1")
    view.sample.setValue(3)
    assert view.sample.text() == "validation image 3 of 15"
    assert view.sample.maximum() == 15


def test_wanted_follows_showing_hiding_and_the_users_choices(qtbot, view, run, data):
    received = requests(view)
    view.set_run(run.spec, len(data.val_x), "r1")
    assert received == [None]                                  # hidden: nothing to compute
    view.show()
    qtbot.waitExposed(view)
    assert received[-1] == NetworkRequest(0, False)
    view.sample.setValue(5)
    assert received[-1] == NetworkRequest(4, False)
    view.filters_button.click()
    assert received[-1] == NetworkRequest(4, True)
    assert view.fields.caption.isHidden()   # filters have no units to click
    view.activations_button.click()
    assert received[-1] == NetworkRequest(4, False)
    assert not view.fields.caption.isHidden()
    view.set_run(run.spec, len(data.val_x), "r2")
    assert received[-1] == NetworkRequest(4, False)            # the new run's, at once
    view.hide()
    assert received[-1] is None
    view.show()
    assert received[-1] == NetworkRequest(4, False)
    view.reset()
    assert received[-1] is None


def test_a_run_without_validation_images_wants_no_activations(qtbot, shown, run):
    received = requests(shown)
    shown.set_run(run.spec, 0, "r1")
    assert received[-1] is None and not shown.sample.isEnabled()
    shown.filters_button.click()
    assert received[-1] == NetworkRequest(0, True)


def test_bars_are_painted_in_the_palettes_colours(shown, run, data):
    shown.set_run(run.spec, len(data.val_x), "r1")
    shown.show_activations(network_picture(run, data.val_x[0], 0, run_key="r1"))
    bars = canvas(shown, run.spec.layers[-1].id)
    palette = bars.palette()
    palette.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(255, 0, 0))
    palette.setColor(QtGui.QPalette.ColorRole.Highlight, QtGui.QColor(0, 255, 0))
    bars.setPalette(palette)
    image = bars.grab().toImage()
    colours = {image.pixelColor(x, y).getRgb()[:3]
               for x in range(image.width()) for y in range(image.height())}
    assert (0, 255, 0) in colours                              # a bar
    assert any(r > 150 and g < 80 and b < 80 for r, g, b in colours)    # words
