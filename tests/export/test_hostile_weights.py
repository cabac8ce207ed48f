"""Hostile or damaged files given to import-weights, and a project export that fails midway:
each is one sentence, nothing is unpacked beyond what the file could hold, and whatever is
written (a run, a project) is whole and opens again."""

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.checkpoint import load_run, save_run  # noqa: E402
from engine.export import project  # noqa: E402
from engine.export.errors import ExportError  # noqa: E402
from engine.export.project import write_project  # noqa: E402
from engine.export.source import Source  # noqa: E402
from engine.export.weights_import import (  # noqa: E402
    import_weights, network_beside, read_weights, run_from_weights,
)
from export_helpers import NETWORKS  # noqa: E402
from main import main  # noqa: E402

CONFIG = {"optimizer": "momentum", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001,
          "schedule": "constant", "step_epochs": 10, "gamma": 0.1, "batch_size": 32,
          "epochs": 1, "seed": 0, "device": "cpu", "flip": False, "crop_pad": 0,
          "normalization": "channel"}
CURVES = {"step": [1, 2], "loss": [2.3, 2.1], "lr": [0.01, 0.01], "epoch": [1],
          "train_acc": [0.2], "val_acc": [math.nan], "train_loss": [2.2], "val_loss": [math.inf]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A project of the default network, with fresh weights."""
    return write_project(Source.of_network(NETWORKS["default"]()),
                         tmp_path_factory.mktemp("hostile") / "project")


@pytest.fixture
def state(exported) -> dict:
    return torch.load(exported / "weights.pt", weights_only=True)


def one_sentence(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message.endswith(".")
    return message


def deflated(plain: Path, packed: Path) -> Path:
    """The zip archive torch.save wrote, its entries compressed (torch.load reads those)."""
    with zipfile.ZipFile(plain) as source, \
            zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            with source.open(info) as entry, target.open(info.filename, "w") as out:
                while chunk := entry.read(1 << 20):
                    out.write(chunk)
    return packed


def test_a_decompression_bomb_is_refused_before_it_is_unpacked(state, tmp_path, monkeypatch):
    state["normalize.std"] = torch.zeros(8 << 20)  # 32 MiB of zeros deflate to 32 KiB
    torch.save(state, tmp_path / "plain.pt")
    bomb = deflated(tmp_path / "plain.pt", tmp_path / "bomb.pt")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(ExportError, match=r"would unpack into 32\.\d MiB.*decompression bomb"):
        read_weights(bomb)


def test_weights_compressed_as_usual_are_read(state, tmp_path):
    torch.save(state, tmp_path / "plain.pt")
    arrays, _ = read_weights(deflated(tmp_path / "plain.pt", tmp_path / "w.pt"))
    assert np.array_equal(arrays["fc.weight"], state["fc.weight"].numpy())


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")  # deprecated, still saved
@pytest.mark.parametrize("make, kind", [
    (lambda t: t.to(torch.bfloat16), "bfloat16"),
    (lambda t: t.to(torch.float8_e4m3fn), "float8_e4m3fn"),
    (lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8), "qint8"),
    (lambda t: t.to_sparse(), "float32, sparse_coo"),
    (lambda t: t.to(torch.complex64).conj(), "complex64, conjugated"),
    (lambda t: torch.empty(t.shape, device="meta"), "float32, on the meta device"),
])
def test_a_tensor_numpy_cannot_hold_is_one_sentence(make, kind, state, tmp_path):
    state["fc.bias"] = make(state["fc.bias"])
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ExportError) as e:
        read_weights(tmp_path / "w.pt")
    assert one_sentence(e) == (f"'w.pt' holds 'fc.bias' as a tensor of {kind}, which NumPy "
                               "cannot hold; save it as a dense float32 tensor on the CPU and "
                               "import it again.")


@pytest.fixture
def arrays(exported) -> dict:
    return read_weights(exported / "weights.pt")[0]


def checkpoint(**changes) -> dict:
    """What train.py's checkpoint.pt holds besides the weights, with `changes`."""
    return {"epoch": 1, "history": CURVES, "config": CONFIG, "data_source": None,
            "class_names": [str(i) for i in range(10)], "data_name": "digits", **changes}


@pytest.mark.parametrize("meta, message", [
    (checkpoint(config={**CONFIG, "lr": 10 ** 400}), "The settings in 'w.pt' cannot be used"),
    (checkpoint(config={**CONFIG, "batch_size": 10 ** 400}), "The settings in 'w.pt'"),
    (checkpoint(history={**CURVES, "step": [1, 10 ** 30]}), r"are damaged \('step'\)"),
    (checkpoint(history={**CURVES, "step": [1, math.nan]}), r"are damaged \('step'\)"),
    (checkpoint(history={**CURVES, "step": [1, -2]}), r"are damaged \('step'\)"),
    (checkpoint(history={**CURVES, "epoch": [1.0]}), r"are damaged \('epoch'\)"),
    (checkpoint(history={**CURVES, "loss": [2.3, 10 ** 400]}), r"are damaged \('loss'\)"),
    (checkpoint(history={**CURVES, "lr": [0.1, True]}), r"are damaged \('lr'\)"),
    (checkpoint(class_names=["\ud800"] + [str(i) for i in range(9)]), "The class names"),
    (checkpoint(data_source="\ud800"), "The data set named in 'w.pt' is not a path"),
])
def test_a_checkpoint_a_run_file_cannot_keep_is_one_sentence(meta, message, arrays):
    with pytest.raises(ExportError, match=message) as e:
        run_from_weights(NETWORKS["default"](), arrays, meta, "w.pt")
    one_sentence(e)


@pytest.mark.parametrize("key, values, message", [
    ("conv1.weight", lambda a: a.astype(np.float64) * 1e300, "non-finite values in 'conv1.weight'"),
    ("normalize.std", lambda a: np.zeros_like(a), "standard deviation that is not positive"),
    ("normalize.std", lambda a: -a, "standard deviation that is not positive"),
    ("normalize.std", lambda a: np.full(a.shape, 1e-50), "standard deviation that is not pos"),
])
def test_weights_a_run_file_cannot_keep_are_one_sentence(key, values, message, arrays):
    arrays[key] = values(arrays[key])
    with pytest.raises(ExportError, match=message) as e:
        run_from_weights(NETWORKS["default"](), arrays, checkpoint(), "w.pt")
    one_sentence(e)


def test_an_imported_run_opens_again_with_its_curves(arrays, tmp_path):
    meta = checkpoint(data_source=str(tmp_path / "data"), data_name="\ud800")
    run = run_from_weights(NETWORKS["default"](), arrays, meta, "w.pt", network_file="n.json")
    save_run(run, tmp_path / "r.ckpt")
    back = load_run(tmp_path / "r.ckpt", "cpu")
    assert back.history["step"] == [1, 2] and back.history["epoch"] == [1]
    assert math.isnan(back.history["val_acc"][0]) and math.isnan(back.history["val_loss"][0])
    assert (back.data_name, back.step, back.epoch) == ("data", 2, 1)


def test_a_network_path_a_run_file_cannot_keep_is_one_sentence(arrays):
    with pytest.raises(ExportError, match="is not UTF-8 text") as e:
        run_from_weights(NETWORKS["default"](), arrays, checkpoint(), "w.pt",
                         network_file="/data/\udcff.json")
    one_sentence(e)


def test_deeply_nested_settings_are_one_sentence(exported, tmp_path):
    for name in ("weights.pt", "network.json"):
        (tmp_path / name).write_bytes((exported / name).read_bytes())
    (tmp_path / "settings.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ExportError, match="is not the settings an exported project writes"):
        import_weights(tmp_path / "weights.pt", tmp_path / "network.json")


def test_a_folder_that_cannot_be_searched_is_one_sentence(tmp_path, monkeypatch):
    def refused(path):  # as for a user who may read a folder but not enter it
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "is_file", refused)
    with pytest.raises(ExportError, match=r"network.json' cannot be looked for: Permission "
                                          r"denied; check the permissions of its folder\."):
        network_beside(tmp_path / "locked" / "w.pt")


def test_a_hostile_file_ends_the_command_with_one_line(state, exported, tmp_path, capsys):
    (tmp_path / "network.json").write_bytes((exported / "network.json").read_bytes())
    state["conv1.weight"] = state["conv1.weight"].to(torch.bfloat16)
    torch.save(state, tmp_path / "w.pt")
    assert main(["import-weights", str(tmp_path / "w.pt"), "-o", str(tmp_path / "r.ckpt")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "r.ckpt").exists()


def failing_save(obj, path):
    """torch.save on a disk that fills up midway."""
    Path(path).write_bytes(b"PK\x03\x04 half")
    raise RuntimeError("[enforce fail at inline_container.cc] . unexpected pos")


def test_a_failed_export_leaves_nothing_and_can_be_tried_again(tmp_path, monkeypatch):
    source = Source.of_network(NETWORKS["default"]())
    with monkeypatch.context() as m:
        m.setattr(torch, "save", failing_save)
        with pytest.raises(ExportError) as e:
            write_project(source, tmp_path / "p")
    assert one_sentence(e) == (f"Could not write the project into '{tmp_path / 'p'}': "
                               "writing its weights failed; free some space or choose another "
                               "folder.")
    assert os.listdir(tmp_path) == []
    assert (write_project(source, tmp_path / "p") / "weights.pt").is_file()


def test_an_empty_folder_becomes_the_project_and_keeps_its_permissions(tmp_path):
    (tmp_path / "p").mkdir(mode=0o750)
    (tmp_path / "p").chmod(0o750)
    folder = write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")
    assert (folder / "model.py").is_file() and (folder.stat().st_mode & 0o777) == 0o750
    assert os.listdir(tmp_path) == ["p"]


def test_a_project_failing_to_be_written_is_cleaned_up(tmp_path, monkeypatch):
    def full(folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project, "copy_modules", full)
    with pytest.raises(ExportError, match="No space left on device; free some space"):
        write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")
    assert os.listdir(tmp_path) == []


def test_the_hidden_folder_of_a_killed_export_goes_at_the_next_export(tmp_path):
    dead = 2 ** 22 + 12345  # above Linux's pid limit: no such process
    stray = tmp_path / f".p.{dead}.abcd.tmp"
    (stray / "engine").mkdir(parents=True)
    (stray / "weights.pt").write_bytes(b"PK half")
    folder = write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")
    assert (folder / "weights.pt").is_file() and os.listdir(tmp_path) == ["p"]
