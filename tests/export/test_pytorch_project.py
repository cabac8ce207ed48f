"""The PyTorch project: model.py with our weights gives our scores and every layer's output;
its weights come back as a run; a wrong or foreign file is refused in one sentence."""

import ast
import pickle
import re
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.checkpoint import load_run, save_run  # noqa: E402
from engine.export.errors import ExportError  # noqa: E402
from engine.export.project import write_project  # noqa: E402
from engine.export.source import Source  # noqa: E402
from engine.export.weights_import import (  # noqa: E402
    import_weights, read_weights, run_from_weights,
)
from export_helpers import (  # noqa: E402
    NETWORKS, import_model_py, random_images, relative_error, torch_net, trained_run,
)


def torch_outputs(net, images: np.ndarray, dtype=torch.float64) -> list[np.ndarray]:
    """Every layer module's output for raw NHWC images, in our layout (N, H, W, D)."""
    outputs = []
    hooks = [module.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
             for name, module in net.named_children() if name != "normalize"]
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).to(dtype)
    with torch.no_grad():
        net.to(dtype)(x)
    for hook in hooks:
        hook.remove()
    return [o.numpy().reshape(o.shape[0], o.shape[1], *o.shape[2:] or (1, 1)).transpose(0, 2, 3, 1)
            for o in outputs]


@pytest.mark.parametrize("name", NETWORKS)
def test_model_py_scores_as_the_run_does(name, tmp_path):
    run = trained_run(name)
    write_project(Source.of_run(run), tmp_path / "project")
    net = torch_net(tmp_path / "project")
    images = random_images(run.spec, 6, seed=4)
    # float64 on both sides: our layers compute in the input's type
    ours = run.model.scores(run.normalizer(images).astype(np.float64))
    theirs = net.double()(torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float64)))
    assert relative_error(theirs.detach().numpy(), ours) < 1e-5
    float32 = net.float()(torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32)))
    assert relative_error(float32.detach().numpy(), run.model.scores(run.normalizer(images))) < 1e-4


@pytest.mark.parametrize("name", ["every layer", "every layer, SVM"])
def test_imported_weights_give_the_runs_and_pytorchs_activations(name, tmp_path):
    run = trained_run(name)
    folder = write_project(Source.of_run(run), tmp_path / "project")
    arrays, meta = read_weights(folder / "weights.pt")
    back = run_from_weights(run.spec, arrays, meta, "weights.pt")
    save_run(back, tmp_path / "back.ckpt")
    back = load_run(tmp_path / "back.ckpt")
    image = random_images(run.spec, 1, seed=6)
    for ours, theirs in zip(back.layer_outputs(image[0])[1:-1], run.layer_outputs(image[0])[1:-1]):
        np.testing.assert_array_equal(ours, theirs)  # the round trip loses nothing
    assert back.normalizer.mode == run.normalizer.mode
    pytorch = torch_outputs(torch_net(folder), image, torch.float32)
    for ours, theirs in zip(back.layer_outputs(image[0])[1:-1], pytorch):
        assert relative_error(theirs[0], ours) < 1e-5 or np.abs(ours).max() < 1e-6


def test_layer_names_that_are_no_identifiers_become_attributes(tmp_path):
    folder = write_project(Source.of_network(NETWORKS["every layer, SVM"]()), tmp_path / "p")
    model = import_model_py(folder)
    names = [name for name, _ in model.Net().named_children()]
    assert names == ["normalize", "conv_1", "batchnorm_class", "forward_2", "pool_1st_pool", "c2", "gap"]
    assert "'conv 1' in the designer" in (folder / "model.py").read_text()
    assert model.LOSS == "svm" and model.MARGIN == 0.5
    assert model.DECAYED == ("conv_1.weight", "c2.weight")


def test_the_project_holds_what_the_readme_promises(tmp_path):
    folder = write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")
    for name in ("model.py", "weights.pt", "train.py", "settings.json", "network.json",
                 "README.md", "engine/data/load.py", "engine/optim.py", "engine/export/layout.py",
                 "convnet_designer_resources/data/uci_digits.npz"):
        assert (folder / name).is_file(), name
    readme = (folder / "README.md").read_text()
    assert "torchrun --standalone --nproc_per_node=gpu train.py" in readme
    assert "--nnodes=N" in readme and "| 8 | 4 |" in readme and "$" not in readme


def test_a_folder_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists and is not an empty folder"):
        write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")


@pytest.fixture
def default_weights(tmp_path):
    folder = write_project(Source.of_network(NETWORKS["default"]()), tmp_path / "p")
    return torch.load(folder / "weights.pt", weights_only=True)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("conv2.bias"), r"it lacks 'conv2.bias'; choose the network"),
    (lambda s: s.update(extra=torch.zeros(2)), r"it has 'extra', which no layer of the network"),
    (lambda s: s.update({"fc.weight": torch.zeros(10, 64)}),
     r"'fc.weight' is 10×64 there but the network needs 10×128\."),
    (lambda s: s["conv1.bias"].fill_(float("nan")), r"holds non-finite values in 'conv1.bias'"),
])
def test_weights_that_do_not_fit_are_refused_in_a_sentence(default_weights, change, message,
                                                           tmp_path):
    change(default_weights)
    torch.save(default_weights, tmp_path / "w.pt")
    arrays, meta = read_weights(tmp_path / "w.pt")
    with pytest.raises(ExportError, match=message):
        run_from_weights(NETWORKS["default"](), arrays, meta, "w.pt")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("content", [b"not a torch file", pickle.dumps(Payload())])
def test_a_foreign_or_hostile_file_is_refused_without_running_it(content, tmp_path, capsys):
    (tmp_path / "w.pt").write_bytes(content)
    with pytest.raises(ExportError, match=r"^'w.pt' cannot be read as PyTorch weights"):
        read_weights(tmp_path / "w.pt")
    assert "must never run" not in capsys.readouterr().out


def test_a_hostile_torch_save_is_refused_without_running_it(tmp_path, capsys):
    torch.save({"conv1.weight": Payload()}, tmp_path / "w.pt")
    with pytest.raises(ExportError, match="cannot be read as PyTorch weights"):
        read_weights(tmp_path / "w.pt")
    assert "must never run" not in capsys.readouterr().out


# Imported only where present, as the designer does (the GPU backend).
OPTIONAL = {"cupy", "cupyx"}
DISTRIBUTIONS = {"PIL": "pillow"}  # module → what pip installs it as


def test_the_readme_names_every_package_the_project_imports(tmp_path):
    folder = write_project(Source.of_run(trained_run("every layer")), tmp_path / "project")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    listed = set(re.search(r"`pip install ([^`]+)`", readme).group(1).split())
    own = {path.stem for path in folder.iterdir()}
    imported = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    foreign = imported - set(sys.stdlib_module_names) - own - OPTIONAL
    assert {DISTRIBUTIONS.get(name, name) for name in foreign} == listed


def test_a_bare_state_dict_takes_the_projects_settings(tmp_path):
    """weights.pt holds only tensors; the settings.json beside it says the rest."""
    run = trained_run("every layer")
    run.data_source = str(tmp_path / "cifar-10-batches-py")
    folder = write_project(Source.of_run(run), tmp_path / "project")
    back = import_weights(folder / "weights.pt", folder / "network.json")
    assert back.class_names == run.class_names and back.config == run.config
    assert (back.data_source, back.data_name) == (run.data_source, "cifar-10-batches-py")


@pytest.mark.parametrize("settings", [b"[1, 2]", b"{not json", b"\xff\xfe", b" " * (2 << 20),
                                      b'{"class_names": 7}', b'{"data_source": 7}'])
def test_a_damaged_settings_file_is_one_sentence(settings, tmp_path):
    folder = write_project(Source.of_run(trained_run("every layer")), tmp_path / "project")
    (folder / "settings.json").write_bytes(settings)
    with pytest.raises(ExportError) as e:
        import_weights(folder / "weights.pt", folder / "network.json")
    assert "\n" not in str(e.value) and str(e.value).endswith(".")
