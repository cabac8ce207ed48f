"""Renaming and deleting run files, and the tasks that list, read, rename and delete them."""

import json
import zipfile

import numpy as np
import pytest

from engine.checkpoint import CheckpointError, load_run, read_run_summary, save_run
from engine.run_files import (RunDeleted, RunListing, RunRead, RunRenamed, delete_run,
                              delete_task, list_task, read_task, rename_run, rename_task)
from engine.task import TaskState
from tests.engine.test_checkpoint import read_entries, write_entries
from tests.engine.trainer_helpers import make_trainer


@pytest.fixture(scope="module")
def trained():
    trainer = make_trainer(epochs=2, optimizer="adam", batch_size=16)
    list(trainer.train())
    trainer.run.name = "first name"
    return trainer.run


@pytest.fixture
def path(trained, tmp_path):
    path = tmp_path / "run.ckpt"
    save_run(trained, path)
    return path


def test_a_rename_changes_the_name_and_copies_every_other_entry_bit_for_bit(path):
    before = read_entries(path)
    summary = rename_run(path, "  second name ")
    after = read_entries(path)
    assert summary.name == read_run_summary(path).name == load_run(path).name == "second name"
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) and after[k].dtype == before[k].dtype
               for k in before if k != "meta")
    old, new = json.loads(str(before["meta"])), json.loads(str(after["meta"]))
    assert new == {**old, "name": "second name"}


def test_a_rename_keeps_the_archive_order_and_leaves_no_temporary_file(path):
    names = zipfile.ZipFile(path).namelist()
    rename_run(path, "other")
    assert zipfile.ZipFile(path).namelist() == names
    assert [p.name for p in path.parent.iterdir()] == ["run.ckpt"]


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused_and_the_file_is_untouched(path, name):
    content = path.read_bytes()
    with pytest.raises(CheckpointError, match="needs a name"):
        rename_run(path, name)
    assert path.read_bytes() == content


def test_a_file_that_is_not_a_run_is_not_renamed(tmp_path):
    path = tmp_path / "x.ckpt"
    path.write_bytes(b"no run")
    with pytest.raises(CheckpointError, match="not a ConvNet Designer run file"):
        rename_run(path, "name")
    assert path.read_bytes() == b"no run"


def test_a_version_1_file_is_named_after_its_file_and_not_renamed(path):
    entries = read_entries(path)
    meta = json.loads(str(entries["meta"]))
    meta["history"] = {k[len("history/"):]: entries[k].tolist() for k in entries
                       if k.startswith("history/")}
    for key in ("offset", "name", "created", "network_file", "data_name"):
        del meta[key]
    meta |= {"version": 1, "batch": 0}
    entries = {k: v for k, v in entries.items() if not k.startswith("history/")}
    entries["meta"] = np.array(json.dumps(meta))
    old = write_entries(path.with_name("old run.ckpt"), entries)
    content = old.read_bytes()
    with pytest.raises(CheckpointError, match="older format.*rename the file"):
        rename_run(old, "new")
    assert old.read_bytes() == content


def test_a_damaged_weight_entry_fails_its_checksum_and_the_file_stays(path):
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        entry = archive.read(next(n for n in archive.namelist() if n.startswith("param/")))
    content[content.find(entry) + len(entry) - 1] ^= 0xFF  # the last byte of its values
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="damaged"):
        rename_run(path, "new")
    assert path.read_bytes() == bytes(content)


def test_delete_removes_only_that_file_and_a_missing_file_is_no_error(path):
    other = path.with_name("other.ckpt")
    other.write_bytes(path.read_bytes())
    delete_run(path)
    assert not path.exists() and other.exists()
    delete_run(path)


def test_the_tasks_return_typed_results(path):
    (path.parent / "broken.ckpt").write_bytes(b"broken")
    state = TaskState()
    listing = list_task(state, path.parent)
    assert isinstance(listing, RunListing) and listing.folder == path.parent
    assert [r.path for r in listing.runs] == [path] and len(listing.problems) == 1
    assert read_task(state, path) == RunRead(read_run_summary(path))
    renamed = rename_task(state, path, "third")
    assert isinstance(renamed, RunRenamed) and renamed.summary.name == "third"
    assert delete_task(state, path) == RunDeleted(path) and not path.exists()
