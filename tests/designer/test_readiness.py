"""The "Before training" lines of the Train workspace, driven through its widgets."""

import pytest
from PySide6 import QtCore

from designer.memory_settings import CUSTOM
from designer.training.readiness import MEASURE_TIP
from engine.shapes import GIB, format_bytes
from tests.designer.conftest import make_workspace


@pytest.fixture
def vgg_ws(qtbot, open_document, errors):
    """A Train workspace on VGG-16, whose step at batch size 64 needs ~30 GiB."""
    w = make_workspace(qtbot, open_document("vgg16"))
    yield w
    w.shutdown()


def test_measure_is_refused_while_a_step_needs_more_than_the_budget(qtbot, vgg_ws, monkeypatch):
    readiness, analysis = vgg_ws.readiness, vgg_ws.document.analysis
    submitted = []
    monkeypatch.setattr(readiness.probe, "submit", lambda *args: submitted.append(args))
    button = readiness.measure_button
    needs = analysis.memory(64, vgg_ws.memory.optimizer).total
    fits = analysis.largest_batch(4 * GIB, vgg_ws.memory.optimizer)
    assert vgg_ws.memory.budget_bytes == 4 * GIB < needs and fits > 0

    assert button.isVisible() and not button.isEnabled()
    sentence = readiness.time_label.text()
    assert sentence == button.toolTip()
    for part in (f"batch size 64 a step needs {format_bytes(needs)}", "budget of 4.0 GiB",
                 f"batch size of {fits} or less", "raise the budget"):
        assert part in sentence
    readiness.measure()  # nor does a direct call (the automatic one) measure
    assert submitted == []

    vgg_ws.settings.widgets["batch_size"].setValue(fits)
    assert button.isEnabled() and button.toolTip() == MEASURE_TIP
    assert "budget" not in readiness.time_label.text()

    vgg_ws.settings.widgets["batch_size"].setValue(64)
    assert not button.isEnabled()
    vgg_ws.memory.set_budget(CUSTOM)
    vgg_ws.memory.set_custom_gib(64)
    assert button.isEnabled()
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    device = vgg_ws.settings.config().device
    assert [args[1:] for args in submitted] == [(vgg_ws.document.spec, 64, device)]
