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
