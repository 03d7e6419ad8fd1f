"""A run's resume state: everything needed to continue a training run after its last finished epoch, in one
safetensors file under <run>/resume/ (weights, optimizer buffers, and counters, history and options in its
metadata), written atomically after every epoch; and which run `--resume` continues."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .checkpoints import CONFIG_FILE, METRICS_FILE, PENDING_WEIGHTS_FILE, WEIGHTS_FILE, finish_save
from .configs import TrainOptions
from .errors import UsageError
from .models import DanceClassifier
from .weights import atomic_write_bytes, runs_dir

RESUME_DIR = "resume"
LOCK_FILE = ".train.lock"  # held by the one `train` writing a run folder
AVERAGE = "average"  # the resume state's prefix for the average of the weights (ModelConfig.ema)


def save_state(out: Path, model: DanceClassifier, optimizer, state: dict, average=None) -> None:
    """Everything needed to continue after `state["epoch"]`: weights, momentum buffers, counters, history, and the
    average of the weights (torch's AveragedModel) when the model keeps one."""
    from safetensors.torch import save

    tensors = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    if average is not None:
        tensors.update({f"{AVERAGE}.{name}": tensor for name, tensor in average.state_dict().items()})
    for index, buffers in optimizer.state_dict()["state"].items():
        for name, tensor in buffers.items():
            if isinstance(tensor, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = tensor
    # one file holds tensors and counters (in its metadata), so an interrupted write can never pair the
    # weights of one epoch with the counters of another
    atomic_write_bytes(state_path(out), save({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                                             metadata={"state": json.dumps(state)}))


def state_path(out: Path) -> Path:
    return out / RESUME_DIR / "state.safetensors"


def read_state(out: Path) -> dict:
    """The counters, history and options saved with a run's resume state."""
    from safetensors import safe_open

    with safe_open(state_path(out), framework="pt") as file:
        return json.loads(file.metadata()["state"])


def load_state(out: Path, model: DanceClassifier, optimizer, scheduler=None, average=None) -> dict:
    from safetensors.torch import load_file

    state = read_state(out)
    tensors = load_file(state_path(out))
    model.load_state_dict(_under(tensors, "model"))
    if average is not None:
        average.load_state_dict(_under(tensors, AVERAGE))
    buffers: dict[int, dict] = {}
    for key, tensor in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            buffers.setdefault(int(index), {})[name] = tensor
    optimizer.load_state_dict({"state": buffers, "param_groups": optimizer.state_dict()["param_groups"]})
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr()):
            group["lr"] = lr  # the lr the schedule had reached
    return state


def _under(tensors: dict, prefix: str) -> dict:
    """The tensors saved under `prefix.`, by their names without it."""
    return {key[len(prefix) + 1:]: tensor for key, tensor in tensors.items() if key.startswith(prefix + ".")}


def resume_dir(options: TrainOptions) -> Path:
    if options.out is not None:
        return Path(options.out).expanduser()
    candidates = [p.parent.parent for p in runs_dir().glob(f"{options.model}-*/{RESUME_DIR}/state.safetensors")
                  if not read_state(p.parent.parent).get("finished")]
    if not candidates:
        raise UsageError(f"No unfinished {options.model} run to resume under {runs_dir()}.",
                         "Pass --out DIR of the run to resume, or start a new run without --resume.")
    return max(candidates, key=lambda p: state_path(p).stat().st_mtime)


@contextmanager
def one_writer(out: Path, replace: bool, resume: bool) -> Iterator[None]:
    """Hold `out` for one `train` while it writes there. Another train on the same folder is refused, and so is a
    new run over an earlier one unless `replace` (train --overwrite; its files are removed first). The lock is the
    operating system's, so a killed run leaves none behind. A resumed run first finishes a save that was stopped
    before its last step (checkpoints.finish_save)."""
    from filelock import FileLock, Timeout

    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(f"Another `dancestyle train` is writing {out}.",
                         "Wait for it to finish, or pass another --out.") from None
    try:
        if resume:
            finish_save(out)
        elif replace:
            _remove_run(out)
        else:
            _refuse_to_replace(out)
        yield
    finally:
        lock.release()


def _refuse_to_replace(out: Path) -> None:
    if state_path(out).is_file():
        state = read_state(out)
        if not state.get("finished"):
            raise UsageError(f"{out} holds a run stopped after epoch {state.get('epoch', 0)}.",
                             f"Continue it with `dancestyle train --resume --out {out}`, start it again with "
                             "--overwrite, or pass another --out.")
    if state_path(out).is_file() or (out / CONFIG_FILE).is_file():
        raise UsageError(f"{out} already holds a trained run.", "Replace it with --overwrite, or pass another --out.")


def _remove_run(out: Path) -> None:
    """The files a run writes, and only those: --out may be a folder that holds other things too."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, PENDING_WEIGHTS_FILE, METRICS_FILE):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / RESUME_DIR, ignore_errors=True)
