"""Replacing a checkpoint is safe at any instant: an interrupted save_checkpoint leaves a loadable checkpoint, and
readers never disturb the writer."""

import threading

from pathlib import Path

import pytest
import torch

from dancestyle.errors import ChecksumError
from dancestyle.models import DanceClassifier, default_config
from dancestyle.checkpoints import checkpoint_config
from dancestyle.checkpoints import (PENDING_WEIGHTS_FILE, WEIGHTS_FILE, finish_save, read_checkpoint,
                                   save_checkpoint)


def classifier_state(seed):
    torch.manual_seed(seed)
    classifier = DanceClassifier(default_config("lstm", streams=["pose"], hidden=8))
    return classifier.state_dict(), checkpoint_config(classifier.config.to_dict())


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize("stop_before", ["config", "swap"])
def test_a_save_interrupted_anywhere_leaves_a_checkpoint_that_loads(tmp_path, monkeypatch, stop_before):
    old, config = classifier_state(0)
    new, _ = classifier_state(1)
    save_checkpoint(tmp_path, old, config)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    if stop_before == "swap":  # the rename of model.safetensors.pending (atomic writes use os.replace)
        monkeypatch.setattr(Path, "replace", killed)
    else:
        monkeypatch.setattr("dancestyle.checkpoints.atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, new, config)
    monkeypatch.undo()
    _, loaded = read_checkpoint(tmp_path)
    # before config.json names the new weights the old checkpoint stands; after, the reader reads the waiting ones
    assert same(loaded, old if stop_before == "config" else new)
    if stop_before == "swap":
        assert (tmp_path / PENDING_WEIGHTS_FILE).exists()  # a reader moves nothing: the run's writer finishes it
        finish_save(tmp_path)
        assert not (tmp_path / PENDING_WEIGHTS_FILE).exists() and same(read_checkpoint(tmp_path)[1], new)


def test_weights_that_match_nothing_still_fail_the_check(tmp_path):
    state, config = classifier_state(0)
    save_checkpoint(tmp_path, state, config)
    (tmp_path / PENDING_WEIGHTS_FILE).write_bytes(b"not the weights")
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError):
        read_checkpoint(tmp_path)
    assert (tmp_path / PENDING_WEIGHTS_FILE).read_bytes() == b"not the weights"  # never swapped in


def test_a_reader_polling_while_train_saves_never_breaks_the_writer_and_loads_only_what_it_verified(tmp_path):
    """Issue 28's reproducer: a reader in a loop used to finish the writer's swap itself (the writer's own rename
    then failed) and could pair one save's config with another's weights."""
    saves, failures, reads = 150, [], []
    _, config = classifier_state(0)  # a real config.json: readers refuse one that rebuilds no classifier

    def write():
        try:
            for step in range(saves):
                save_checkpoint(tmp_path, {"step": torch.full((64,), float(step))}, {**config, "step": step})
        except BaseException as e:  # the writer must never fail because of the reader
            failures.append(e)

    save_checkpoint(tmp_path, {"step": torch.zeros(64)}, {**config, "step": 0})
    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        config, state = read_checkpoint(tmp_path)
        reads.append((config["step"], state["step"]))
    writer.join()
    assert not failures
    assert len(reads) > 10 and all((weights == step).all() for step, weights in reads)
