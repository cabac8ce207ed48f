"""`main.py summary` on the templates and on broken files, as a user runs it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.resources import network_template
from main import main

ROOT = Path(__file__).resolve().parents[2]

# total parameters of the published architectures (single-stream AlexNet, dense LeNet-5 C3)
PUBLISHED_PARAMS = {
    "lenet5": 61_706, "alexnet": 62_378_344, "zfnet": 62_357_608, "vgg16": 138_357_544,
    "cifar10": 32 * 32 * 12 // 4 * 10 + 10 + 3 * 3 * 3 * 12 + 12,
}


def summary_json(capsys, path, *extra):
    status = main(["summary", str(path), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_template_totals_match_published(capsys, name):
    status, data = summary_json(capsys, name)
    assert status == 0 and data["valid"]
    assert data["totals"]["params"] == PUBLISHED_PARAMS[name]


def test_vgg16_volumes_and_memory(capsys):
    status, data = summary_json(capsys, "vgg16", "--batch-size", "32")
    by_name = {l["name"]: l for l in data["layers"]}
    assert (by_name["conv1_1"]["width"], by_name["conv1_1"]["depth"]) == (224, 64)
    assert by_name["pool5"]["width"] == 7 and by_name["fc6"]["params"] == 102_764_544
    assert data["input"] == {"width": 224, "height": 224, "depth": 3}
    assert data["memory"]["batch_size"] == 32 and data["memory"]["bytes"] > 0
    required = {"name", "type", "width", "height", "depth", "params", "activations", "macs",
                "receptive_field", "error", "fix", "fixes"}
    assert all(required <= set(layer) for layer in data["layers"])
    assert set(data["totals"]) >= {"params", "activations", "macs"}


def test_table_output(capsys):
    assert main(["summary", str(network_template("alexnet")), "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "55×55×96" in out and "34,944 (34,848+96)" in out
    assert "training memory at batch size 8" in out and "largest batch size in 4 GiB" in out


def test_invalid_network_prints_every_error_with_fix_and_exits_1(tmp_path, capsys):
    data = json.loads(network_template("cifar10").read_text())
    data["layers"][1]["stride"] = 2
    data["layers"].append({"type": "relu", "name": "late"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["summary", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: (32 − 3 + 2·1)/2 + 1 = 16.5 is not a whole number; use S=1 or F=4" in out
    assert "    fix:   set S=1\n    fix:   set F=4\n" in out  # one line per fix, best first
    assert out.count("error:") == 2 and out.count("fix:") == 3
    assert "'late' comes after the loss layer" in out
    assert main(["summary", str(path), "--json"]) == 1
    conv = json.loads(capsys.readouterr().out)["layers"][1]
    assert conv["fix"] == "set S=1" and conv["fixes"] == ["set S=1", "set F=4"]


def test_a_missing_loss_is_reported_once_for_the_network_with_its_fix(tmp_path, capsys):
    data = json.loads((ROOT / "resources/networks/cifar10.json").read_text())
    data["layers"].pop()
    path = tmp_path / "no_loss.json"
    path.write_text(json.dumps(data))
    assert main(["summary", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count("error:") == 1 and "    error:" not in out
    assert "\nerror: The network has no loss layer to train with" in out
    assert "\nfix:   add a Softmax loss at the bottom\n" in out
    status, data = summary_json(capsys, path)
    assert status == 1 and all(layer["error"] is None for layer in data["layers"])
    assert data["fixes"] == ["add a Softmax loss at the bottom"] == [data["fix"]]


def test_a_file_named_like_a_template_wins(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lenet5").write_bytes(network_template("cifar10").read_bytes())
    assert main(["summary", "lenet5"]) == 0
    assert capsys.readouterr().out.startswith("CIFAR-10 example")


def test_neither_file_nor_template_lists_the_templates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["summary", "lenet6"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'lenet6' does not exist (or name a template: alexnet" in err


def test_malformed_file_one_sentence_exit_2(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "convnet-designer", "version": 1, "layers": [{"type": "conv", "stride": -1')
    result = subprocess.run([sys.executable, "main.py", "summary", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "broken.json" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def readme_rows(section: str, first_cell_pattern: str) -> list[list[str]]:
    """The cells of the table rows in README.md's `section` (a heading, up to the next one)
    whose first cell matches the pattern."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    end = text.find("\n#", start + len(section) + 2)
    rows = []
    for line in text[start:end if end >= 0 else None].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell_pattern, cells[0]):
            rows.append(cells)
    return rows


def test_readme_template_table_matches_summary(capsys):
    rows = readme_rows("### Templates", r"`\w+\.json`")
    assert {row[0] for row in rows} == {f"`{name}.json`" for name in
                                        ["lenet5", "alexnet", "zfnet", "vgg16", "cifar10",
                                         "default"]}
    for row in rows:
        _, data = summary_json(capsys, row[0].strip("`").removesuffix(".json"))
        totals = data["totals"]
        assert row[2:5] == [f"{totals[k]:,}" for k in ("params", "activations", "macs")], row


def test_readme_memory_per_gpu_table_matches_summary(capsys):
    """README's "What a run on N GPUs needs": each GPU's share is the memory of batch/N."""
    names = {"AlexNet": "alexnet", "VGG-16": "vgg16"}
    rows = readme_rows("## Outgrowing one machine", r"(AlexNet|VGG-16), \d+")
    assert len(rows) == 2
    for row in rows:
        name, batch = row[0].split(", ")
        for gpus, cell in zip((1, 2, 4, 8), row[1:]):
            images, shown = cell.replace(" images", "").split(", ")
            assert int(images) == int(batch) // gpus
            _, data = summary_json(capsys, names[name], "--batch-size", images)
            assert shown == f"{data['memory']['bytes'] / 2**30:.1f} GiB", (row[0], gpus)
