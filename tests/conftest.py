import gc
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_user_data(tmp_path, monkeypatch):
    """Runs of unsaved networks go to a temporary user data folder, never the user's own."""
    monkeypatch.setenv("CONVNET_DESIGNER_HOME", str(tmp_path / "user-data"))
    return tmp_path / "user-data"


@pytest.fixture(autouse=True)
def automatic_garbage_collection_without_an_event_loop(request):
    """The window's workers leave cycle collection to a timer of the GUI thread
    (designer.background); a test that runs no Qt event loop gets Python's own back."""
    if not {"qapp", "qtbot"} & set(request.fixturenames):
        gc.enable()
