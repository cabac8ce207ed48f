"""The insight views on a real tiny run of the default network on the digits: a unit's
receptive fields on the image, saliency and Grad-CAM in Classify, the misclassified images."""
# ruff: noqa: F811  (the workspace fixtures come from test_training; pytest passes them by name)

import numpy as np
import pytest
from PySide6 import QtCore

from designer.training.images import GAP
from designer.training.insight import MisclassifiedImages, SaliencyAnswer, UnitFieldAnswer
from engine.insight.saliency import explain
from tests.designer.test_training import RUN, columns, train, wait_for_maps


def click_unit(qtbot, canvas, tile: int, row: int, col: int) -> None:
    """Click the middle of unit (row, col) of tile `tile` on a column's picture."""
    picture = canvas.picture
    m, (rows, cols) = picture.mosaic, picture.units
    y = tile // m.cols * (m.tile_height + GAP) + (row + 0.5) * m.tile_height / rows
    x = tile % m.cols * (m.tile_width + GAP) + (col + 0.5) * m.tile_width / cols
    assert picture.unit_at(y, x) == (tile, row, col)
    qtbot.mouseClick(canvas, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(int(x), int(y)))


def test_clicking_a_unit_draws_its_theoretical_and_effective_fields_on_the_image(qtbot, ws):
    train(qtbot, ws)
    wait_for_maps(qtbot, ws)
    spec = ws.shown.spec
    image_column, conv2 = columns(ws)[spec.layers[0].id], spec.layers[4]
    canvas = columns(ws)[conv2.id].canvas
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, UnitFieldAnswer)) as blocker:
        click_unit(qtbot, canvas, 5, 1, 2)
    got = blocker.args[0]
    assert (got.request.layer_id, got.request.channel, got.request.row, got.request.col) == \
        (conv2.id, 5, 1, 2)
    # conv2 sees 3 + 2·1 (conv1) + 1·1 (pool1: 2×2/2, jump 1 → 2) + 2·2 (conv2) = 8 px, its
    # units 2 px apart, unit 0 starting at −1 (conv1's pad) − 1·2 (conv2's pad) = −3: unit
    # (1, 2) sees rows −1…6 and columns 1…8, of which rows 0…6 and columns 1…7 are image.
    window = got.field.window
    assert (window.size, window.rows, window.cols) == (8, (0, 7), (1, 8))
    marks = image_column.canvas.marks
    scale = image_column.canvas.picture.mosaic.tile_width / 8     # the 8×8 image, enlarged
    (rect, _), = marks.rects
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == pytest.approx(
        (1 * scale, 0, 7 * scale, 7 * scale))
    assert (marks.heat.width(), marks.heat.height()) == (8, 8)
    # The heat is transparent where the unit does not depend on the pixel, seen where it does.
    alpha = np.array([[marks.heat.pixelColor(c, r).alpha() for c in range(8)]
                      for r in range(8)])
    effective = got.field.effective
    assert not alpha[effective == 0].any() and alpha[effective > 0.01 * effective.max()].all()
    assert not alpha[7].any() and not alpha[:, 0].any()           # outside the window
    (unit_mark, _), = canvas.marks.rects
    assert unit_mark.contains(QtCore.QPointF(*_tile_point(canvas, 5, 1, 2)))
    caption = ws.network_view.fields.caption.text()
    assert "conv2" in caption and "channel 5" in caption and "8×8" in caption
    # Another image: the same unit's fields are asked for that image.
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, UnitFieldAnswer) and r.request.sample == 9):
        ws.network_view.sample.setValue(10)


def _tile_point(canvas, tile, row, col):
    m, (rows, cols) = canvas.picture.mosaic, canvas.picture.units
    return (tile % m.cols * (m.tile_width + GAP) + (col + 0.5) * m.tile_width / cols,
            tile // m.cols * (m.tile_height + GAP) + (row + 0.5) * m.tile_height / rows)


def test_saliency_and_grad_cam_fill_for_the_classify_image_and_a_chosen_class(qtbot, ws):
    train(qtbot, ws)
    ws.pictures.setCurrentWidget(ws.classify_tab)
    image = ws.shown.data.val_x[3]
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, SaliencyAnswer) and r.image is ws.classify_view._submitted) as blocker:
        ws.classify_view.sample.setValue(4)
        ws.classify_view.pick.click()
    predicted = blocker.args[0].explanation
    assert np.array_equal(ws.classify_view._submitted, image)
    assert predicted.class_index == predicted.predicted
    view = ws.saliency_view
    assert view.saliency_item.image.shape == view.cam_heat.image.shape == (8, 8)
    assert view.cam_heat.image.max() == pytest.approx(1) and view.cam_heat.image.min() >= 0
    other = (predicted.predicted + 3) % 10
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, SaliencyAnswer) and r.explanation.class_index == other) as blocker:
        view.class_choice.setCurrentIndex(other + 1)            # after "the predicted class"
    chosen = blocker.args[0].explanation
    expected = explain(ws.session.run, image, other)            # the run is idle now
    np.testing.assert_allclose(view.saliency_item.image, expected.saliency, rtol=1e-6)
    np.testing.assert_allclose(view.cam_heat.image, expected.cam, rtol=1e-6, atol=1e-7)
    assert chosen.cam_layer == ws.shown.spec.layers[4].id      # conv2, the last convolution
    assert f"explaining {other} " in view.caption.text()
    assert view.layer_choice.currentText() == "conv2"


def test_the_misclassified_list_fills_sorted_and_a_click_opens_the_image_in_classify(
        qtbot, ws):
    train(qtbot, ws)
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, MisclassifiedImages)) as blocker:
        ws.pictures.setCurrentWidget(ws.misclassified_view)    # asked for when first seen
    data = ws.shown.data
    probabilities = ws.session.run.predict(data.val_x)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != data.val_y)
    items = [ws.misclassified_view.list.item(i)
             for i in range(ws.misclassified_view.list.count())]
    assert 0 < len(items) == len(wrong) == len(blocker.args[0].mistakes)
    shown = [item.data(QtCore.Qt.ItemDataRole.UserRole) for item in items]
    assert sorted(shown) == sorted(wrong)
    confidence = probabilities[shown, probabilities[shown].argmax(axis=1)]
    assert list(confidence) == sorted(confidence, reverse=True)
    first = shown[0]
    assert items[0].text().startswith(f"{data.val_y[first]} → {probabilities[first].argmax()}")
    assert f"{len(wrong)} of {len(data.val_y)}" in ws.misclassified_view.summary.text()
    with qtbot.waitSignal(ws.worker.reported, timeout=RUN, check_params_cb=lambda r: isinstance(
            r, SaliencyAnswer) and np.array_equal(r.image, data.val_x[first])):
        rect = ws.misclassified_view.list.visualItemRect(items[0])
        qtbot.mouseClick(ws.misclassified_view.list.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         pos=rect.center())
    assert ws.pictures.currentWidget() is ws.classify_tab
    assert np.array_equal(ws.classify_view._submitted, data.val_x[first])
    assert ws.classify_view.sample.value() == first + 1
    truth = f"labelled {data.val_y[first]}"                # the digits' names are their digits
    qtbot.waitUntil(lambda: truth in ws.classify_view.caption.text(), timeout=RUN)
    predicted = probabilities[first].argmax()
    assert ws.classify_view.caption.text().startswith(f"Most likely: {predicted}")


def test_the_caption_says_so_when_no_pixel_moves_the_unit():
    from designer.training.insight import UnitFieldRequest
    from designer.training.unit_fields import caption
    from engine.insight.receptive import UnitField, Window

    window = Window(8, -3, 1, (0, 5), (1, 8))
    dead = UnitField("c", 0, 2, 4, 0.0, window, np.zeros((8, 8)), 0)
    text = caption(UnitFieldAnswer("k", UnitFieldRequest(0, "c", 4, 0, 2), dead, "conv2"))
    assert "8×8 px" in text and "5×7 of it on the image" in text
    assert "none: no pixel moves the unit" in text
