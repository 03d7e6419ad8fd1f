"""The feature recipe: every config.json layout this project has written loads into the recipe it meant, each legacy
key is read as it was, and today's `features` block is written exactly as before."""

import copy

import pytest

from dancestyle.configs import default_config
from dancestyle.errors import WeightsError
from dancestyle.flow import DEFAULT_FLOW, FlowSettings
from dancestyle.pose import DEFAULT_POSE, PoseSource
from dancestyle.recipe import KINETICS_START, RANDOM_RGB, FeatureRecipe, rgb_weights_id

PINNED = rgb_weights_id(random_weights=False)
STYLES = ["ballet", "break", "flamenco", "waltz"]
BOX = "per-skeleton bounding box to [-1, 1]"
FRAME = "frame: centred, half the long side = 1"
LSTM = {"name": "lstm", "hidden": 128, "stride": 60, "dropout": 0.7, "lr": 0.0167, "batch_size": 64,
        "weight_decay": 0.0284, "classes": STYLES, "streams": ["rgb", "pose"]}
RGB = {"backbone": "resnet18", "weights": RANDOM_RGB, "size": 256}


def checkpoint(features: dict, training: dict | None = None, model: dict = LSTM) -> dict:
    config = {"dancestyle_version": "0.1.0", "model": model, "base_fps": 30, "window_seconds": 10,
              "features": features, "weights_sha256": "0" * 64}
    if training is not None:
        config["training"] = {"dataset": "/data/letsdance", "layout": "frames", "seed": 0, **training,
                              "synthetic": False}
    return config


def r3d_layout(rgb: dict, resize: str) -> tuple[dict, FeatureRecipe]:
    """An r3d checkpoint on pose and rgb frames with `rgb` in features.rgb, and the recipe it means."""
    rgb = {"backbone": "r3d_18", "weights": KINETICS_START, "size": 112, **rgb}
    config = checkpoint({"frame_size": 512, "rgb": rgb,
                         "pose": {"backend": "rtmpose-s", "source": "estimator", "random_weights": False,
                                  "people": 20, "keypoints": 17, "normalisation": FRAME},
                         "flow": DEFAULT_FLOW.to_dict()},
                        {"pose_source": "rtmpose-s-512"}, model={"name": "r3d", "classes": STYLES,
                                                                 "streams": ["pose", "rgb"]})
    return config, FeatureRecipe(("rgb", "pose"), (("pose", "frame"), ("rgb", "frames112")), 512, KINETICS_START,
                                 PoseSource("rtmpose-s", 512), "rtmpose-s", DEFAULT_FLOW, frames_resize=resize)


# One config.json per layout `checkpoint_config` (pipeline.py) and train have written, from `git log -p`, with the
# recipe it must load into.
LAYOUTS = {
    # 469e890 (2026-11-24): Keypoint R-CNN the only pose estimator, named; the frame size was the detector's
    "estimator-named": (
        checkpoint({"rgb": RGB, "pose": {"estimator": "keypointrcnn_resnet50_fpn.COCO_V1", "detector_size": 384,
                                         "people": 20, "keypoints": 17, "normalisation": BOX}},
                   {"pose_source": "estimator-random-384"}),
        FeatureRecipe(("rgb", "pose"), (), 384, RANDOM_RGB, PoseSource("rcnn", 384, True), "rcnn", DEFAULT_FLOW)),
    "estimator-named-dataset-poses": (
        checkpoint({"rgb": RGB, "pose": {"estimator": "keypointrcnn_resnet50_fpn.COCO_V1", "detector_size": 512,
                                         "people": 20, "keypoints": 17, "normalisation": BOX}},
                   {"pose_source": "dataset"}),
        FeatureRecipe(("rgb", "pose"), (), 512, RANDOM_RGB, PoseSource(None), "rcnn", DEFAULT_FLOW)),
    # d849f23 (2026-11-30): pose backends; train patched frame_size in beside pose.detector_size
    "backends-with-detector-size": (
        checkpoint({"rgb": RGB, "pose": {"backend": "rtmpose-t", "source": "estimator", "detector_size": 384,
                                         "random_weights": False, "people": 20, "keypoints": 17,
                                         "normalisation": BOX}, "frame_size": 384},
                   {"pose_source": "rtmpose-t-384", "shuffle_frames": False}),
        FeatureRecipe(("rgb", "pose"), (), 384, RANDOM_RGB, PoseSource("rtmpose-t", 384), "rtmpose-t",
                      DEFAULT_FLOW)),
    "backends-skeleton-files": (  # detector_size said 512 for skeleton-file models whatever frames were decoded at
        checkpoint({"rgb": {**RGB, "weights": PINNED},
                    "pose": {"backend": "rtmpose-s", "source": "dataset", "detector_size": 512,
                             "random_weights": False, "people": 20, "keypoints": 17, "normalisation": BOX},
                    "frame_size": 256},
                   {"pose_source": "dataset", "shuffle_frames": False}),
        FeatureRecipe(("rgb", "pose"), (), 256, PINNED, PoseSource(None), "rtmpose-s", DEFAULT_FLOW)),
    # 5f8ecec (2026-11-30): one features.frame_size; no flow yet
    "one-frame-size": (
        checkpoint({"frame_size": 512, "rgb": RGB,
                    "pose": {"backend": "rtmpose-s", "source": "estimator", "random_weights": True,
                             "people": 20, "keypoints": 17, "normalisation": BOX}},
                   {"pose_source": "rtmpose-s-random-512", "shuffle_frames": False}),
        FeatureRecipe(("rgb", "pose"), (), 512, RANDOM_RGB, PoseSource("rtmpose-s", 512, True), "rtmpose-s",
                      DEFAULT_FLOW)),
    # 5aabcd8 (2026-11-30): features.flow, before DIS refinement was a setting (it was the preset's 5)
    "flow-before-refinement": (
        checkpoint({"frame_size": 512, "rgb": RGB,
                    "pose": {"backend": "rtmpose-s", "source": "estimator", "random_weights": False,
                             "people": 20, "keypoints": 17, "normalisation": BOX},
                    "flow": {"algorithm": "dis", "preset": "medium", "size": 128, "pairs": 5, "bound": 10.0,
                             "grid": 12}},
                   {"pose_source": None}, model={**LSTM, "name": "frame", "streams": ["flow"]}),
        FeatureRecipe(("flow",), (), 512, RANDOM_RGB, PoseSource("rtmpose-s", 512), "rtmpose-s",
                      FlowSettings(size=128, pairs=5, bound=10.0, refinement=5))),
    # a9d4eec (2026-12-03): r3d's rgb as frames (short side resized), its poses in frame coordinates
    "r3d-frames": r3d_layout({}, "short-side"),
    # 2026-12-07 to today: r3d's frames resized as torchvision's Kinetics preset does, recorded
    "r3d-kinetics-frames": r3d_layout({"resize": "kinetics"}, "kinetics"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_ever_written_loads_into_the_recipe_it_meant(layout):
    config, expected = LAYOUTS[layout]
    assert FeatureRecipe.from_checkpoint(copy.deepcopy(config)) == expected


@pytest.mark.parametrize("layout", ["one-frame-size", "r3d-kinetics-frames"])
def test_todays_layouts_are_written_back_exactly(layout):
    config, _ = LAYOUTS[layout]
    recipe = FeatureRecipe.from_checkpoint(config)
    assert recipe.to_json() == {**config["features"], "flow": recipe.flow.to_dict()}


def test_a_new_runs_features_block_is_todays_layout():
    model = default_config("lstm", streams=["pose", "rgb"], classes=STYLES)
    recipe = FeatureRecipe.for_model(model, PoseSource("rtmpose-t", 384, True), RANDOM_RGB, 384)
    assert recipe.to_json() == {
        "frame_size": 384,
        "rgb": {"backbone": "resnet18", "weights": RANDOM_RGB, "size": 256},
        "pose": {"backend": "rtmpose-t", "source": "estimator", "random_weights": True, "people": 20,
                 "keypoints": 17, "normalisation": BOX},
        "flow": DEFAULT_FLOW.to_dict()}
    written = checkpoint(recipe.to_json(), {"pose_source": recipe.pose.id}, model.to_dict())
    assert FeatureRecipe.from_checkpoint(written) == recipe


@pytest.mark.parametrize("streams", [["rgb"], ["flow"], ["pose"]])
def test_a_recipe_survives_its_own_config_json(streams):
    """What train writes (a model without poses records the default backend) reads back as the same recipe."""
    model = default_config("tcn", streams=streams, classes=STYLES)
    pose = PoseSource(None) if streams == ["pose"] else None
    recipe = FeatureRecipe.for_model(model, pose, None, 256)
    training = {"pose_source": pose.id if pose else None}
    assert FeatureRecipe.from_checkpoint(checkpoint(recipe.to_json(), training, model.to_dict())) == recipe


def test_r3d_records_the_weights_its_network_started_from():
    r3d = default_config("r3d", streams=["rgb"], classes=STYLES)
    assert FeatureRecipe.for_model(r3d).to_json()["rgb"] == {"backbone": "r3d_18", "weights": KINETICS_START,
                                                            "size": 112, "resize": "kinetics"}
    assert FeatureRecipe.for_model(r3d, rgb_weights=RANDOM_RGB).rgb_weights == RANDOM_RGB  # an offline run


def test_r3d_frames_from_before_the_kinetics_resize_read_and_cache_as_they_were_made():
    old, _ = LAYOUTS["r3d-frames"]
    new, _ = LAYOUTS["r3d-kinetics-frames"]
    old_recipe, new_recipe = FeatureRecipe.from_checkpoint(copy.deepcopy(old)), FeatureRecipe.from_checkpoint(new)
    assert old_recipe.frames_resize == "short-side" and old_recipe.to_json()["rgb"]["resize"] == "short-side"
    assert old_recipe.source_id("rgb") == "frames@512px"  # the cache folder such checkpoints made, still theirs
    assert new_recipe.source_id("rgb") == "frames-kinetics@512px"
    old["features"]["rgb"]["resize"] = "stretch"
    with pytest.raises(WeightsError, match="resize"):
        FeatureRecipe.from_checkpoint(old)


# -- one test per legacy key -----------------------------------------------------------------------------------------

def recipe_of(features: dict, training: dict | None = None) -> FeatureRecipe:
    return FeatureRecipe.from_checkpoint(checkpoint(features, training))


@pytest.mark.parametrize("estimator, backend", [("keypointrcnn_resnet50_fpn.COCO_V1", "rcnn"),
                                                ("something-else", DEFAULT_POSE), (None, "rcnn")])
def test_pose_estimator_names_the_backend_classify_runs(estimator, backend):
    pose = {} if estimator is None else {"estimator": estimator}
    assert recipe_of({"pose": pose}).pose_backend == backend
    assert recipe_of({"pose": {**pose, "backend": "rtmpose-t"}}).pose_backend == "rtmpose-t"  # backend wins


def test_pose_detector_size_is_the_frame_size_unless_one_is_recorded():
    assert recipe_of({"pose": {"detector_size": 640}}).frame_size == 640
    assert recipe_of({"pose": {"detector_size": 512}, "frame_size": 384}).frame_size == 384
    assert recipe_of({}).frame_size == 512


def test_a_checkpoint_without_flow_settings_has_the_default_ones():
    assert recipe_of({}).flow == DEFAULT_FLOW


def test_flow_settings_without_refinement_were_made_with_the_presets():
    assert recipe_of({"flow": {"size": 96}}).flow == FlowSettings(size=96, refinement=5)
    with pytest.raises(WeightsError, match="unknown settings"):
        recipe_of({"flow": {"size": 96, "warp": 2}})


def test_training_pose_source_from_before_backends_is_keypoint_rcnn():
    assert recipe_of({}, {"pose_source": "estimator-512"}).pose == PoseSource("rcnn", 512)
    assert recipe_of({}, {"pose_source": "estimator-random-384"}).pose == PoseSource("rcnn", 384, True)


def test_a_pose_model_without_a_recorded_pose_source_read_skeleton_files():
    assert recipe_of({"pose": {"backend": "rtmpose-t", "source": "estimator"}}).pose == PoseSource(None)
    assert recipe_of({"pose": {"backend": "rtmpose-t"}}, {"shuffle_frames": False}).pose == PoseSource(None)


def test_rgb_weights_default_to_the_pinned_resnet18():
    assert recipe_of({"rgb": {"backbone": "resnet18"}}).rgb_weights == PINNED
    assert recipe_of({"rgb": {"weights": RANDOM_RGB}}).rgb_weights == RANDOM_RGB
