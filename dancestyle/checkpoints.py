"""Classifier checkpoints: directories holding model.safetensors + config.json (+ metrics.json), written, saved,
read, found, downloaded and uploaded. Nothing here ever unpickles.

config.json records the sha256 of model.safetensors, so a checkpoint is verified wherever it comes from.
`--weights` takes such a directory or a Hub repo id `org/name[@revision]` whose files have that layout.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .configs import config_from_dict
from .errors import ChecksumError, DanceStyleError, UsageError, WeightsError
from .flow import DEFAULT_FLOW, FlowSettings
from .geometry import BASE_FPS, DEFAULT_DETECTOR_SIZE, WINDOW_SECONDS
from .pose import PoseSource
from .published import published_checkpoint
from .recipe import RANDOM_RGB, FeatureRecipe
from .weights import atomic_write_bytes, atomic_write_json, hub_download, runs_dir

if TYPE_CHECKING:
    from .models import DanceClassifier

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
PENDING_WEIGHTS_FILE = "model.safetensors.pending"  # new weights, until config.json names them
# what to do about a checkpoint whose files are wrong: they are someone else's (a Hub repo) or damaged
BAD_CHECKPOINT_HINT = "Re-download it, re-train the model, or use another --weights."
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def checkpoint_config(model_config_dict: dict, pose_source: PoseSource | None = None,
                      rgb_weights: str | None = None, frame_size: int = DEFAULT_DETECTOR_SIZE,
                      flow: FlowSettings = DEFAULT_FLOW) -> dict:
    """The config.json of a checkpoint: the model's config plus how its features were made (recipe.py)."""
    recipe = FeatureRecipe.for_model(config_from_dict(model_config_dict), pose_source, rgb_weights, frame_size, flow)
    return {
        "dancestyle_version": __version__,
        "model": model_config_dict,
        "base_fps": BASE_FPS,
        "window_seconds": WINDOW_SECONDS,
        "features": recipe.to_json(),
    }


def parse_weights_ref(ref: str) -> tuple[Path | None, str | None, str | None]:
    """Split a --weights value into (local directory, hub repo, revision); exactly one side is set."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path, None, None
    if path.is_symlink() or (path.parent != Path(".") and path.parent.is_dir()):
        # a link to nowhere (or round in a loop), or a folder here that lacks this run: a path, not a Hub repo
        raise WeightsError(f"--weights {ref}: no checkpoint directory there.",
                           f"Check the path (the runs in {path.parent} are its subfolders), or pass a Hub repo id "
                           "as org/name[@revision].")
    if path.exists() or not HUB_REPO_ID.match(ref) or ref.startswith((".", "/", "~")):
        raise WeightsError(f"--weights {ref}: not a checkpoint directory and not a Hub repo id.",
                           "Pass a directory holding model.safetensors and config.json, or org/name[@revision].")
    repo, _, revision = ref.partition("@")
    return None, repo, revision or None


def fetch_checkpoint(repo: str, revision: str | None = None, sha256: str | None = None) -> Path:
    """Download a checkpoint from the Hub; returns the snapshot directory holding its files.

    The weights are fetched at the commit config.json came from (so a branch that moves in between cannot
    mix two checkpoints) and checked against the sha256 that config.json records, which must be `sha256` when
    one is pinned (a published checkpoint, published.py).
    """
    config_path = hub_download(repo, CONFIG_FILE, revision)
    commit = config_path.parent.name  # the cache keeps files under snapshots/<commit>/
    recorded = _read_config(config_path).get("weights_sha256")
    hint = ("The checkpoint's weights do not match its config.json: the download is corrupt or the repo is "
            "broken. Delete it from the Hugging Face cache and retry, or use another --weights.")
    if sha256:
        hint = (f"{repo}@{commit} is not the checkpoint this version of dancestyle publishes: the repo or the "
                "cache was altered. Delete it from the Hugging Face cache and retry, or pass --weights.")
        if recorded != sha256:  # refuse before downloading weights that could never pass
            raise ChecksumError(f"{repo}@{commit}/{CONFIG_FILE} records weights sha256 {str(recorded)[:12]}…, not "
                                f"the published {sha256[:12]}….", hint)
    hub_download(repo, WEIGHTS_FILE, commit, recorded, hint)
    return config_path.parent


def newest_run(model_name: str) -> Path | None:
    """The most recently written local training run of `model_name`, if any."""
    candidates = []
    for config_path in runs_dir().glob(f"*/{CONFIG_FILE}"):
        try:
            config = _read_config(config_path)
        except WeightsError:
            continue  # not a checkpoint's config: read_checkpoint would refuse it
        if config["model"].get("name") == model_name and (config_path.parent / WEIGHTS_FILE).is_file():
            candidates.append((config_path.stat().st_mtime, config_path.parent))
    return max(candidates)[1] if candidates else None


def save_checkpoint(directory: str | Path, state_dict: dict, config: dict, metrics: dict | None = None) -> Path:
    """Write a checkpoint directory. config.json holds the weights' sha256. Replacing a checkpoint is safe at any
    instant: the new weights wait beside the old ones until config.json names them, and a reader that finds
    config.json ahead of its weights reads the waiting ones (read_checkpoint). Only the run's one writer (train,
    under its lock) ever moves a file."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in state_dict.items()}
    data = save(tensors)
    atomic_write_bytes(directory / PENDING_WEIGHTS_FILE, data)
    if metrics is not None:
        atomic_write_json(directory / METRICS_FILE, metrics)
    atomic_write_json(directory / CONFIG_FILE, {**config, "weights_sha256": hashlib.sha256(data).hexdigest()})
    finish_save(directory)
    return directory


def finish_save(directory: Path) -> None:
    """Swap in the weights config.json names (the last step of save_checkpoint, or of one that was stopped before
    it): for the run's writer only; readers never move files."""
    pending = directory / PENDING_WEIGHTS_FILE
    if pending.is_file():
        pending.replace(directory / WEIGHTS_FILE)


def _read_config(config_path: Path) -> dict:
    try:
        text = config_path.read_bytes()
    except OSError as e:
        raise WeightsError(f"{config_path} is not a readable JSON file ({e}).", "Re-download or re-train it.") from e
    return _parse_config(config_path, text)


def _parse_config(config_path: Path, text: bytes) -> dict:
    try:
        config = json.loads(text)
    except ValueError as e:
        raise WeightsError(f"{config_path} is not a readable JSON file ({e}).", "Re-download or re-train it.") from e
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise WeightsError(f"{config_path} is not a dancestyle checkpoint config.", "Re-download or re-train it.")
    return config


# a reader that meets a save in progress (config.json and the weights from two saves) reads again this many times
CONSISTENT_READ_TRIES = 20


def read_checkpoint(directory: str | Path) -> tuple[dict, dict]:
    """Read and verify a checkpoint directory: (config, state dict). The weights loaded are the very bytes
    verified; nothing in the directory is changed, so a reader never disturbs `train` saving into it."""
    from safetensors.torch import load

    directory = Path(directory)
    config, _, weights = read_verified(directory)
    try:
        state_dict = load(weights)
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise WeightsError(f"{directory / WEIGHTS_FILE} is not a valid safetensors file ({e}).",
                           "Re-download it.") from e
    check_finite(directory / WEIGHTS_FILE, state_dict)
    return config, state_dict


def check_finite(path: Path, state_dict: dict) -> None:
    """Refuse weights holding NaN or infinity: every score they gave would be NaN (not even valid JSON)."""
    import torch

    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{path}: tensor {name!r} holds values that are not finite (NaN or infinity).",
                               BAD_CHECKPOINT_HINT)


def check_config(config_path: Path, config: dict) -> None:
    """Refuse a config.json that cannot rebuild a classifier: one WeightsError naming the file, the field, what it
    holds and what was expected. A checkpoint is someone else's files, so a wrong one must end neither in a
    traceback nor in the allocation it asks for (configs.MODEL_LIMITS)."""
    if "features" not in config:  # every config.json has had features (what they hold: FeatureRecipe checks)
        raise WeightsError(f"{config_path}: features is missing, expected an object ({{...}}).", BAD_CHECKPOINT_HINT)
    try:
        config_from_dict(config["model"])
    except UsageError as e:  # phrased for --set: what is wrong, and the values it takes
        raise WeightsError(f"{config_path}: model settings: {e}", BAD_CHECKPOINT_HINT) from e
    try:
        FeatureRecipe.from_checkpoint(config)
    except DanceStyleError as e:
        raise WeightsError(f"{config_path}: {e}", BAD_CHECKPOINT_HINT) from e


def read_verified(directory: Path) -> tuple[dict, bytes, bytes]:
    """(config, config.json's bytes, the weights' bytes) of one save, the weights matching the sha256 that
    config.json records. A save in progress is read again (it swaps files in between), up to
    CONSISTENT_READ_TRIES times."""
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{directory} is not a checkpoint: it needs {CONFIG_FILE} and {WEIGHTS_FILE}.",
                           "Pass the output directory of `dancestyle train`, or a Hub repo id.")
    last_seen = None
    for attempt in range(CONSISTENT_READ_TRIES):
        config_text = _read_bytes(config_path) or b""
        config = _parse_config(config_path, config_text)
        expected = config.get("weights_sha256")
        if not expected:
            raise WeightsError(f"{config_path} records no weights_sha256, so {WEIGHTS_FILE} cannot be verified.",
                               "Use a checkpoint written by `dancestyle train` (or save_checkpoint).")
        # the swapped-in weights, else the ones a save left waiting (it stopped between config.json and the swap)
        seen = [config_text]
        for path in (weights_path, directory / PENDING_WEIGHTS_FILE):
            weights = _read_bytes(path)
            digest = None if weights is None else hashlib.sha256(weights).hexdigest()
            if digest == expected:
                check_config(config_path, config)
                return config, config_text, weights
            seen.append(digest)
        if seen == last_seen:  # the same files twice over: no save is moving them, they really disagree
            break
        last_seen = seen
        time.sleep(0.01 * (attempt + 1))
    raise ChecksumError(f"{weights_path} does not match the sha256 recorded in its config.json.",
                        "The file is corrupt or was replaced: re-download or re-train it.")


def _read_bytes(path: Path) -> bytes | None:
    """A file's bytes, or None where a save has just moved it away."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def pose_caution(recipe: FeatureRecipe, chosen: str) -> str | None:
    """What to tell a user who runs a model on other poses than it was trained on: poses from backend `chosen`
    for a model trained on the dataset's skeleton files, or on another backend's."""
    if recipe.pose_source is None:
        return None
    if recipe.pose.backend is None:
        return (f"this model was trained on the dataset's own skeleton files (Let's Dance: DensePose output); here "
                f"the poses come from the `{chosen}` backend, whose skeletons differ somewhat. `dancestyle evaluate "
                f"--pose-source estimator` measures the accuracy of this end-to-end path.")
    recorded = recipe.pose_backend
    if recorded == chosen:
        return None
    return (f"this model was trained on poses from `{recorded}`; --pose {chosen} gives somewhat different "
            f"skeletons, so expect lower accuracy (drop --pose to use {recorded}).")


def classifier_source(model: str, weights: str | None, random_weights_too: bool = True) -> tuple[Path, str]:
    """Find the checkpoint directory: --weights, else the newest local run, else the model's published checkpoint
    (published.py). Nothing else: no Hub repo is reached for that this project has not published and pinned.
    random_weights_too: the command takes --random-weights (classify, watch; evaluate does not), so say it."""
    if weights:
        directory, repo, revision = parse_weights_ref(weights)
        if directory is not None:
            return directory, str(directory)
        return fetch_checkpoint(repo, revision), weights
    local = newest_run(model)
    if local is not None:
        return local, str(local)
    published = published_checkpoint(model)
    if published is None:
        raise WeightsError(f"No {model} classifier is published yet, and there is no training run of it in "
                           f"{runs_dir()}.", f"You can {_ways_forward(model, random_weights_too)}")
    try:
        return fetch_checkpoint(published.repo, published.revision, published.sha256), published.ref
    except ChecksumError:
        raise  # its own hint says what to do about weights that are not the published ones
    except WeightsError as e:  # offline and not cached, most likely: say every way forward, not only the download's
        raise WeightsError(f"No {model} weights here: no training run of it in {runs_dir()}, and its published "
                           f"checkpoint cannot be had: {e.message}",
                           f"Run once online to cache it, or {_ways_forward(model, random_weights_too)}") from e


def _ways_forward(model: str, random_weights_too: bool = True) -> str:
    """What a user without weights for `model` can do instead, as the end of a sentence. Only runs under the runs
    folder are found by themselves: one trained with --out is named with --weights."""
    ways = (f"train one (`dancestyle fetch-dataset`, then `dancestyle train --model {model}`), or pass --weights "
            "DIR|ORG/NAME (a run trained with --out elsewhere is found only that way)")
    return f"{ways}, or try the pipeline with --random-weights." if random_weights_too else f"{ways}."


def load_classifier(config: dict, state_dict: dict, directory: Path) -> DanceClassifier:
    """Rebuild a checkpoint's classifier from its config.json, load its weights strictly and set its recorded
    calibration (late fusion's temperatures)."""
    from .calibration import apply_calibration
    from .models import DanceClassifier

    classifier = DanceClassifier(config_from_dict(config["model"]), FeatureRecipe.from_checkpoint(config).flow)
    try:
        classifier.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"The checkpoint in {directory} does not fit its own config.json ({e}).",
                           "Re-download or re-train it.") from e
    apply_calibration(classifier, config, directory)
    return classifier


def checkpoint_cautions(config: dict, recipe: FeatureRecipe) -> list[str]:
    """What a user should know about a checkpoint's weights before trusting them."""
    training = config.get("training", {})
    cautions = []
    if training.get("synthetic"):
        cautions.append("these weights were trained on the synthetic corpus: on real videos they mean little.")
    if recipe.rgb_weights == RANDOM_RGB and "rgb" in recipe.streams:
        cautions.append("these weights were trained with a random RGB backbone (an offline run).")
    if training.get("pose_source") and recipe.pose.random_weights:
        cautions.append("these weights were trained on poses from a random pose detector (an offline run).")
    if training.get("shuffle_frames"):
        cautions.append("these weights come from the shuffled-frames control experiment.")
    return cautions


def model_card(directory: Path, repo: str) -> str:
    """A README.md for a checkpoint on the Hub, written from its config.json and metrics.json."""
    config = json.loads((directory / CONFIG_FILE).read_text())
    metrics_path = directory / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    model, training, recipe = config["model"], config.get("training", {}), FeatureRecipe.from_checkpoint(config)
    synthetic = training.get("synthetic") or metrics.get("synthetic")
    lines = [
        "---", "library_name: dancestyle", "tags: [video-classification, dance]", "---", "",
        f"# {repo}", "",
        f"A `{model['name']}` dance-style classifier made with [dancestyle](https://pypi.org/project/dancestyle/) "
        f"{config.get('dancestyle_version', '')}: streams {', '.join(model['streams'])}, one frame every "
        f"{model['stride']} frames of 30 fps video, classes {', '.join(model['classes'])}.", "",
        f"Use it: `dancestyle classify clip.mp4 --weights {repo}`", "",
        "## Training", "",
        f"- data: `{training.get('dataset', 'unknown')}`" + (" — **a synthetic corpus: these numbers say nothing "
                                                              "about real videos**" if synthetic else ""),
        f"- RGB backbone: `{recipe.rgb_weights}`; pose: `{training.get('pose_source')}`",
        f"- hyper-parameters: `{json.dumps({k: v for k, v in model.items() if k not in ('classes', 'streams')})}`",
    ]
    if recipe.flow_settings is not None:
        lines += [f"- flow (OpenCV's {recipe.flow_settings.algorithm}; `classify` computes exactly these): "
                  f"`{json.dumps(recipe.flow_settings.to_dict())}`"]
    if config.get("calibration"):
        lines += [f"- streams fused late, each one's scores divided by its temperature (fit on the validation "
                  f"split after training): `{json.dumps(config['calibration']['temperatures'])}`"]
    if metrics:
        lines += [f"- best validation accuracy {metrics.get('best_val_accuracy')} at epoch "
                  f"{metrics.get('best_epoch')} of {metrics.get('epochs_run')}"]
    return "\n".join(lines) + "\n"


def _unreachable_errors() -> tuple[type[Exception], ...]:
    """What huggingface_hub lets through when the Hub cannot be reached: OSError (requests, < 1.0; offline mode),
    else the RequestError of httpx (1.x) or httpx2 (2.x), which are not OSErrors."""
    import importlib

    errors: list[type[Exception]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).RequestError)
        except ImportError:
            pass
    return tuple(errors)


def push_checkpoint(directory: str | Path, repo: str, card: str | None = None) -> str:
    """Upload a checkpoint directory with a model card (`card`, else model_card's), as one commit; returns the
    repo URL. benchmarks/release.py passes model_card's text extended with the numbers over seeds.

    One commit, so the repo is never seen half-updated (a model card without its weights, new weights beside an
    old config.json). Only the checkpoint's own files go up: never resume/ (training state, not a model).
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    directory = Path(directory)
    # the very bytes verified: the upload cannot pick up a file rewritten while it runs
    config, config_text, weights = read_verified(directory)
    files = {CONFIG_FILE: config_text, WEIGHTS_FILE: weights}
    if (directory / METRICS_FILE).is_file():
        files[METRICS_FILE] = (directory / METRICS_FILE).read_bytes()
    card = card or model_card(directory, repo)
    operations = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode())]
    operations += [CommitOperationAdd(path_in_repo=name, path_or_fileobj=data) for name, data in files.items()]
    api = HfApi(library_name="dancestyle")
    hub_errors = (HfHubHTTPError, *_unreachable_errors())
    try:
        url = api.create_repo(repo, exist_ok=True)
        api.create_commit(repo_id=repo, operations=operations,
                          commit_message=f"Upload {config['model']['name']} checkpoint ({directory.name})")
    except (*hub_errors, RuntimeError) as e:
        # a failed LFS upload comes wrapped: a RuntimeError caused by the HTTP or network error; any other
        # RuntimeError is a bug, not the Hub
        if not isinstance(e, hub_errors) and not isinstance(e.__cause__, hub_errors):
            raise
        raise WeightsError(f"Could not push {directory} to the Hub repo {repo} ({e}).",
                           "Log in with `hf auth login` (a token with write access) and check the network; the "
                           "checkpoint itself is saved locally.") from e
    return str(url)
