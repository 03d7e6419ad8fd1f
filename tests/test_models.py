import math

import pytest
import torch

from dancestyle.augment import MIRROR
from dancestyle.configs import recipe
from dancestyle.errors import UnknownModelError, UsageError
from dancestyle.features import FLOW_DIM, POSE_DIM, RGB_DIM, PeopleEncoder, PoseEncoder, feature_dim
from dancestyle.flow import DEFAULT_FLOW
from dancestyle.models import (CLASSES, DanceClassifier, TCNModel, available_models, config_from_dict,
                               default_config, model_spec, parameter_count)


def inputs(batch: int, steps: int, streams=("rgb", "pose", "flow")) -> dict[str, torch.Tensor]:
    every = {"rgb": torch.randn(batch, steps, RGB_DIM), "pose": torch.rand(batch, steps, 20, 2, 17) * 2 - 1,
             "flow": torch.rand(batch, steps, *DEFAULT_FLOW.shape) * 2 - 1}
    return {stream: every[stream] for stream in streams}


def readable_streams(name: str) -> list[str]:
    """Every stream the model can read (r3d's rgb is R3D-18 at 112 px, too slow here: test_r3d runs it small)."""
    return [stream for stream in model_spec(name).config.allowed_streams if (name, stream) != ("r3d", "rgb")]


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("steps", [1, 7])
def test_every_model_runs_forward_with_finite_scores(name, steps):
    streams = readable_streams(name)
    model = DanceClassifier(default_config(name, streams=list(streams))).eval()
    scores = model(inputs(3, steps, streams))
    assert scores.shape == (3, len(CLASSES))
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("streams,width", [(["rgb"], 512), (["pose"], 102), (["rgb", "pose"], 614),
                                           (["flow"], FLOW_DIM), (["pose", "flow"], 102 + FLOW_DIM),
                                           (["flow", "rgb", "pose"], 614 + FLOW_DIM)])
def test_streams_can_be_switched_off(streams, width):
    model = DanceClassifier(default_config("lstm", streams=streams)).eval()
    assert model.sequence.lstm.input_size == width == feature_dim(tuple(streams))
    assert (model.pose_encoder is None) == ("pose" not in streams)
    assert (model.flow_encoder is None) == ("flow" not in streams)
    assert model.streams == tuple(s for s in ("rgb", "pose", "flow") if s in streams)  # one order, however named
    assert model(inputs(2, 5, streams)).shape == (2, 10)


def test_frame_model_votes_over_frames_and_learns_from_every_frame():
    """Castro's baseline: the clip's scores are the frames' vote shares; padding neither votes nor trains."""
    model = DanceClassifier(default_config("frame", streams=["rgb"])).eval()
    layer = model.sequence.classify_frames[-1]
    with torch.no_grad():  # class = the sign of feature 0 (class 1 when positive, class 0 when negative)
        model.sequence.classify_frames[1].weight.zero_()
        model.sequence.classify_frames[1].bias.zero_()
        model.sequence.classify_frames[1].weight[0, 0], model.sequence.classify_frames[1].weight[1, 0] = 1.0, -1.0
        layer.weight.zero_(), layer.bias.zero_()
        layer.weight[1, 0], layer.weight[0, 1] = 5.0, 5.0
    x = torch.zeros(1, 4, RGB_DIM)
    x[0, :, 0] = torch.tensor([1.0, 1.0, -1.0, 9.0])  # two votes for class 1, one for class 0, then padding
    with torch.no_grad():
        votes = torch.softmax(model({"rgb": x}, lengths=torch.tensor([3])), -1)[0].tolist()
    assert votes[1] == pytest.approx(2 / 3, abs=1e-3) and votes[0] == pytest.approx(1 / 3, abs=1e-3)
    labels = torch.tensor([1])
    loss, _ = model.loss({"rgb": x}, torch.tensor([3]), labels)
    frame_losses = torch.nn.functional.cross_entropy(model.sequence.classify_frames(x[0, :3]), labels.expand(3))
    torch.testing.assert_close(loss, frame_losses)


def test_paper_hyper_parameters_are_the_defaults_or_the_paper_recipes():
    lstm, attention, tcn = (default_config(name) for name in ("lstm", "attention", "tcn"))
    assert (lstm.hidden, lstm.stride, lstm.dropout, lstm.lr, lstm.batch_size, lstm.optimizer, lstm.readout) == (
        128, 60, 0.7, 0.0167, 64, "sgd", "last")
    assert (attention.hidden, attention.stride, attention.lr, attention.batch_size) == (32, 30, 0.0591, 16)
    paper_tcn = authors_tcn()
    assert (paper_tcn.channels, paper_tcn.levels, paper_tcn.kernel_size, paper_tcn.stride, paper_tcn.lr,
            paper_tcn.optimizer, paper_tcn.padding) == (128, 6, 3, 5, 0.0022, "sgd", "causal")
    # ours, chosen on validation (models.md)
    assert (tcn.levels, tcn.optimizer, tcn.lr, tcn.padding) == (6, "adamw", 0.001, "same")


def authors_tcn(**changes):
    """The authors' tcn, as --recipe paper trains it."""
    return default_config("tcn", **{**recipe("paper").settings_for("tcn"), **changes})


def test_tcn_trunk_is_the_authors_two_convolution_network():
    """Bai et al.'s TemporalBlock, as the authors used it: 6 levels x 128 channels, kernel 3, 614-d input (early
    fusion, as --recipe paper sets)."""
    trunk = DanceClassifier(authors_tcn(pose_encoder="people")).sequence.blocks
    assert parameter_count(trunk) == 858_240  # one convolution per block would be 561,792
    assert all(hasattr(block, "conv1") and hasattr(block, "conv2") for block in trunk)


def test_tcn_configs_from_before_norm_and_the_mean_readout_are_the_authors_network():
    recorded = default_config("tcn", streams=["pose"]).to_dict()
    del recorded["norm"], recorded["readout"]
    loaded = config_from_dict(recorded)
    assert (loaded.norm, loaded.readout) == (False, "last")
    authors = DanceClassifier(loaded).sequence
    assert not any(isinstance(module, torch.nn.BatchNorm1d) for module in authors.modules())
    assert sum(isinstance(module, torch.nn.BatchNorm1d) for module in DanceClassifier(
        default_config("tcn", streams=["pose"])).sequence.modules()) == 2 * 6  # one after each convolution
    with pytest.raises(UsageError, match="readout"):
        default_config("tcn", readout="max")


def test_the_mean_readout_hears_every_step_the_last_one_only_its_window():
    """Step 0 of 300 lies outside the last step's 252-step window: only the mean over the steps can hear it."""
    torch.manual_seed(0)
    x = torch.randn(1, 300, 16)
    early = x.clone()
    early[0, 0] += 3.0
    for readout, hears in (("mean", True), ("last", False)):
        model = TCNModel(default_config("tcn", streams=["rgb"], readout=readout, channels=8, levels=6,
                                        padding="causal"), 16).eval()
        change = (model(early) - model(x)).abs().max().item()
        assert (change > 0) == hears, (readout, change)


def test_tcn_drops_input_features_in_training_only():
    """input_dropout acts on each step's features before the first convolution (inverted: survivors x 2)."""
    model = TCNModel(default_config("tcn", streams=["rgb"], dropout=0.0, input_dropout=0.5), RGB_DIM)
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].transpose(1, 2)))
    x = torch.rand(4, 30, RGB_DIM) + 0.5  # no zeros of its own
    model.train()(x)
    model.eval()(x)
    kept = seen[0] != 0
    assert 0.45 < kept.float().mean() < 0.55
    torch.testing.assert_close(seen[0][kept], 2 * x[kept])
    torch.testing.assert_close(seen[1], x)


def test_tcn_configs_from_before_its_dropouts_load_without_them():
    """A config.json records every setting, so one without input or stream dropout predates them: it had none."""
    recorded = default_config("tcn", streams=["pose", "flow"], fusion="early").to_dict()
    del recorded["input_dropout"], recorded["stream_dropout"]
    loaded = config_from_dict(recorded)
    assert (loaded.input_dropout, loaded.stream_dropout) == (0.0, 0.0)
    chosen = default_config("tcn", input_dropout=0.5)
    assert config_from_dict(chosen.to_dict()) == chosen


def _visible_tcn() -> TCNModel:
    """The authors' TCN in float64 with 10x the filters' weight-norm gains: N(0, 0.01) filters shrink what the
    oldest steps add through 12 convolutions below float precision; this makes it visible without changing which
    steps can reach the output."""
    torch.manual_seed(0)
    model = DanceClassifier(authors_tcn(streams=["rgb"])).sequence.eval().double()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight.original0"):  # the weight norm's g
                parameter.mul_(10)
    return model


def test_tcn_last_step_sees_exactly_252_steps_of_history():
    model = _visible_tcn()
    assert model.receptive_field == 2 * (3 - 1) * (1 + 2 + 4 + 8 + 16 + 32) == 252
    steps = 300
    first_seen = steps - 1 - 252  # 47: the oldest step the last output depends on
    impulses = [0, 23, first_seen - 1, first_seen, first_seen + 1, 150, steps - 2, steps - 1]
    base = torch.randn(1, steps, RGB_DIM, dtype=torch.float64)
    x = base.repeat(len(impulses), 1, 1)
    for row, step in enumerate(impulses):
        x[row, step] += 1.0
    with torch.no_grad():
        change = (model(x) - model(base)).abs().amax(dim=1)
    for step, delta in zip(impulses, change.tolist()):
        if step >= first_seen:
            assert delta > 1e-3, f"an impulse at step {step} should change the last output"
        else:
            assert delta < 1e-9, f"an impulse at step {step} is older than the receptive field"  # rounding only
    # every step from first_seen on, and none before, reaches the last output
    base.requires_grad_(True)
    model(base).sum().backward()
    reaching = (base.grad.abs().sum(dim=2)[0] > 0).nonzero().flatten()
    assert reaching.tolist() == list(range(first_seen, steps))


def test_tcn_is_causal():
    """The output at step t does not change when later steps change, in the trunk and in the scores."""
    model = _visible_tcn()
    y = torch.randn(2, RGB_DIM, 80, dtype=torch.float64)
    changed = y.clone()
    changed[:, :, 50:] = torch.randn(2, RGB_DIM, 30, dtype=torch.float64)
    with torch.no_grad():
        before, after = model.blocks(y), model.blocks(changed)
        torch.testing.assert_close(before[:, :, :50], after[:, :, :50], rtol=0, atol=0)
        assert (before[:, :, 50:] - after[:, :, 50:]).abs().amax() > 1e-3
        # scores of the changed sequences cut at 50 steps (padding after) are those of the first 50 steps alone
        torch.testing.assert_close(model(changed.transpose(1, 2), lengths=torch.tensor([50, 50])),
                                   model(y.transpose(1, 2)[:, :50]))


def test_same_padding_hears_as_far_after_a_step_as_before_it():
    """padding "same": the output at step t changes when step t + k changes, for k up to the blocks' half
    window, and not beyond it; configs from before the setting are causal, as the authors' tcn."""
    torch.manual_seed(0)
    config = default_config("tcn", streams=["rgb"], padding="same", channels=8, levels=2, norm=False)
    blocks = TCNModel(config, 16).eval().blocks
    x = torch.randn(1, 16, 40)
    # two blocks of two kernel-3 convs with dilations 1 and 2: (1 + 1 + 2 + 2) steps on each side
    for offset, hears in ((6, True), (-6, True), (7, False), (-7, False)):
        changed = x.clone()
        changed[0, :, 20 + offset] += 3.0
        with torch.no_grad():
            change = (blocks(changed) - blocks(x))[0, :, 20].abs().max().item()
        assert (change > 0) == hears, (offset, change)
    recorded = config.to_dict()
    del recorded["padding"]
    assert config_from_dict(recorded).padding == "causal"
    with pytest.raises(UsageError, match="padding"):
        default_config("tcn", padding="reflect")


def test_tcn_filters_start_as_conv_init_says():
    """conv_init "normal": the authors' N(0, 0.01) filters (the 1x1 match too); "pytorch": nn.Conv1d's own
    Kaiming-uniform draw, uniform within 1/sqrt(fan in) (sd = that / sqrt 3: 0.0295 for 128 channels x 3 taps).
    Configs from before the setting, and --recipe paper, are the authors'."""
    def spreads(conv_init):
        """(sd of a block's dilated filters, sd of the first block's 1x1 match from 64 inputs)"""
        torch.manual_seed(0)
        blocks = TCNModel(default_config("tcn", streams=["rgb"], conv_init=conv_init), 64).blocks
        # the weight norm's direction v (original1) keeps the draw; its magnitude g starts at each filter's norm
        return (blocks[1].conv1.parametrizations.weight.original1.std().item(), blocks[0].match.weight.std().item())

    normal_conv, normal_match = spreads("normal")
    pytorch_conv, pytorch_match = spreads("pytorch")
    assert abs(normal_conv - 0.01) < 0.001 and abs(normal_match - 0.01) < 0.002
    assert abs(pytorch_conv - 1 / math.sqrt(3 * 128 * 3)) < 0.002
    assert abs(pytorch_match - 1 / math.sqrt(3 * 64)) < 0.005
    recorded = default_config("tcn", streams=["pose"]).to_dict()
    del recorded["conv_init"]
    assert config_from_dict(recorded).conv_init == "normal"
    assert (default_config("tcn").conv_init, authors_tcn().conv_init) == ("pytorch", "normal")
    with pytest.raises(UsageError, match="conv_init"):
        default_config("tcn", conv_init="xavier")


def test_time_norm_hides_what_stays_the_same_through_a_clip():
    """With time_norm, adding a constant to every step of a clip (a static cue) changes nothing the model over
    time reads; each feature has mean 0 and spread 1 over the real steps; padding stays zero and unread."""
    from dancestyle.models import normalised_over_time

    torch.manual_seed(0)
    x = torch.randn(2, 12, 5)
    lengths = torch.tensor([12, 7])
    x[1, 7:] = 0  # padding
    shifted = x.clone()
    shifted[0] += 4.0
    shifted[1, :7] += torch.tensor([4.0, -1.0, 0.5, 2.0, 3.0])
    normalised = normalised_over_time(x, lengths)
    torch.testing.assert_close(normalised_over_time(shifted, lengths), normalised, atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised[1, :7].mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    # spread 1, to within the floor added to it (TIME_NORM_FLOOR over spreads near 1)
    torch.testing.assert_close(normalised[1, :7].pow(2).mean(0), torch.ones(5), atol=1e-2, rtol=0)
    assert normalised[1, 7:].abs().max() == 0
    still = x.clone()
    still[:, :, 0] = 0.0  # a feature that never changes (a ReLU unit that stays off): a finite gradient
    still.requires_grad_(True)
    normalised_over_time(still, lengths).sum().backward()
    assert torch.isfinite(still.grad).all()
    model = DanceClassifier(default_config("lstm", streams=["rgb"], time_norm=True)).eval()
    features = torch.randn(2, 12, RGB_DIM)
    with torch.no_grad():
        torch.testing.assert_close(model({"rgb": features}, lengths), model({"rgb": features + 2.0}, lengths))
    recorded = model.config.to_dict()
    del recorded["time_norm"]
    assert config_from_dict(recorded).time_norm is False


def test_the_lstm_mean_readout_hears_every_real_step_and_no_padding():
    torch.manual_seed(0)
    config = default_config("lstm", streams=["rgb"], readout="mean", hidden=8)
    model = DanceClassifier(config).sequence.eval()
    x = torch.randn(2, 10, RGB_DIM)
    padded = x.clone()
    padded[:, 6:] = 5.0  # what follows the real steps is never read
    lengths = torch.tensor([6, 6])
    with torch.no_grad():
        torch.testing.assert_close(model(padded, lengths), model(x[:, :6]))
        outputs, _ = model.lstm(x[:, :6])
        torch.testing.assert_close(model(x[:, :6]), model.out(outputs.mean(1)))
    recorded = config.to_dict()
    del recorded["readout"]
    assert config_from_dict(recorded).readout == "last"
    with pytest.raises(UsageError, match="lstm readout"):
        default_config("lstm", readout="max")


@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_with_deltas_the_lstm_reads_each_step_and_its_change_since_the_one_before(name):
    from dancestyle.models import with_deltas

    x = torch.tensor([[[1.0, 10.0], [4.0, 10.0], [2.0, 13.0]]])
    assert with_deltas(x).tolist() == [[[1.0, 10.0, 0.0, 0.0], [4.0, 10.0, 3.0, 0.0], [2.0, 13.0, -2.0, 3.0]]]
    torch.manual_seed(0)
    config = default_config(name, streams=["rgb"], hidden=8, deltas=True)
    model = DanceClassifier(config).eval()
    assert model.sequence.lstm.input_size == 2 * RGB_DIM
    steps = torch.randn(1, 5, RGB_DIM)
    with torch.no_grad():  # the model's LSTM is given exactly the steps and their changes
        outputs, _ = model.sequence.lstm(with_deltas(steps))
        seen, _ = model.sequence.lstm(model.sequence.steps_in(steps, None)[0])
    torch.testing.assert_close(seen, outputs)
    recorded = config.to_dict()
    del recorded["deltas"]
    assert config_from_dict(recorded).deltas is False  # checkpoints from before the setting read the steps alone
    from dancestyle.configs import parse_settings

    with pytest.raises(UsageError, match="deltas"):  # the tcn finds changes with its own filters
        parse_settings(["deltas=true"], default_config("tcn"))


@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_a_bidirectional_lstm_hears_the_steps_after_each_one_and_ignores_padding(name):
    torch.manual_seed(0)
    last_state = {"readout": "last"} if name == "lstm" else {}  # the final states of both readers, joined
    config = default_config(name, streams=["rgb"], hidden=8, bidirectional=True, **last_state)
    model = DanceClassifier(config).eval().sequence
    steps = torch.randn(2, 6, RGB_DIM)
    with torch.no_grad():
        outputs, _ = model.lstm(steps)
        later_changed = steps.clone()
        later_changed[:, 5] += 1.0
        changed, _ = model.lstm(later_changed)
        assert outputs.shape[-1] == 16  # each step: the forward reader's 8 and the backward one's 8
        assert not torch.allclose(changed[:, 0], outputs[:, 0])  # the first step hears the last
        padded = torch.cat([steps[:, :4], torch.full((2, 2, RGB_DIM), 7.0)], dim=1)
        torch.testing.assert_close(model(padded, torch.tensor([4, 4])), model(steps[:, :4]))
    recorded = config.to_dict()
    del recorded["bidirectional"]
    assert config_from_dict(recorded).bidirectional is False  # checkpoints from before it read forwards only


@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_a_front_convolution_lets_each_step_hear_its_neighbours_only_and_never_the_padding(name):
    torch.manual_seed(0)
    config = default_config(name, streams=["rgb"], hidden=8, front=3, readout="mean") if name == "lstm" else \
        default_config(name, streams=["rgb"], hidden=8, front=3)
    model = DanceClassifier(config).eval().sequence
    assert model.lstm.input_size == 8  # the LSTM reads the front's channels
    steps = torch.randn(1, 6, RGB_DIM)
    with torch.no_grad():
        read, _ = model.steps_in.front(steps, None)
        changed = steps.clone()
        changed[:, 3] += 1.0
        read_changed, _ = model.steps_in.front(changed, None)
        moved = (read_changed - read).abs().amax(-1)[0]
        assert moved[2:5].gt(0).all() and moved[[0, 1, 5]].eq(0).all()  # step 3 reaches steps 2-4 only
        padded = torch.cat([steps[:, :4], torch.full((1, 2, RGB_DIM), 7.0)], dim=1)
        torch.testing.assert_close(model(padded, torch.tensor([4])), model(steps[:, :4]))
    recorded = config.to_dict()
    del recorded["front"]
    assert config_from_dict(recorded).front == 0  # checkpoints from before it: the LSTM reads the steps
    assert not any(".front." in key for key in DanceClassifier(default_config(name)).state_dict())
    with pytest.raises(UsageError, match="odd"):
        default_config(name, front=4)


@pytest.mark.parametrize("name", ["lstm", "attention"])
def test_a_strided_front_gives_the_lstm_every_kth_step_and_the_lengths_that_go_with_it(name):
    torch.manual_seed(0)
    readout = {"readout": "mean"} if name == "lstm" else {}
    config = default_config(name, streams=["rgb"], hidden=8, front=3, front_stride=2, **readout)
    model = DanceClassifier(config).eval().sequence
    steps = torch.randn(2, 7, RGB_DIM)
    with torch.no_grad():
        read, lengths = model.steps_in(steps, torch.tensor([7, 4]))
        assert read.shape[1] == 4 and lengths.tolist() == [4, 2]  # centred on steps 0, 2, 4, 6
        assert read[1, 2:].eq(0).all()  # what follows a shorter clip stays zero
        padded = torch.cat([steps[:1, :5], torch.full((1, 2, RGB_DIM), 7.0)], dim=1)
        torch.testing.assert_close(model(padded, torch.tensor([5])), model(steps[:1, :5]))
    assert config_from_dict({**config.to_dict(), "front_stride": 1}).front_stride == 1
    with pytest.raises(UsageError, match="front=0"):
        default_config(name, front_stride=2)


@pytest.mark.parametrize("flip", ["mirror", "behind"])
def test_with_a_test_flip_evaluation_averages_each_windows_probabilities_with_its_flips(flip):
    from dancestyle.augment import FLIPS, flipped_batch
    from dancestyle.configs import TEST_FLIPS

    assert set(TEST_FLIPS) == {"none", *FLIPS}
    torch.manual_seed(0)
    model = DanceClassifier(default_config("lstm", streams=["rgb", "pose"], hidden=8, test_flip=flip))
    batch = inputs(2, 5, ["rgb", "pose"])
    turned = flipped_batch(batch, flip)
    assert torch.equal(turned["rgb"], batch["rgb"])  # ResNet-18 features cannot be flipped
    assert torch.equal(turned["pose"][..., 0, :], -batch["pose"][..., 0, :].index_select(
        -1, torch.tensor(MIRROR if flip == "mirror" else list(range(17)))))
    with torch.no_grad():
        model.train()
        torch.manual_seed(1)  # the same dropout draws
        plain = model(batch)  # training sees the window alone (the flip there is an augmentation)
        torch.manual_seed(1)
        torch.testing.assert_close(plain, model.sequence(model.frame_features(batch)))
        model.eval()
        alone, flipped = (torch.softmax(model.sequence(model.frame_features(x)), -1) for x in (batch, turned))
        torch.testing.assert_close(torch.softmax(model(batch), -1), (alone + flipped) / 2)
    with pytest.raises(UsageError, match="test_flip"):
        default_config("lstm", test_flip="upside-down")


def test_one_convolution_tcn_checkpoints_are_refused_with_a_reason(tmp_path):
    from dancestyle.errors import WeightsError
    from dancestyle.checkpoints import load_classifier

    config = default_config("tcn", streams=["pose"])
    state = DanceClassifier(config).state_dict()
    old = {key.replace(".conv1.", ".conv."): value for key, value in state.items() if ".conv2." not in key}
    with pytest.raises(WeightsError) as caught:
        load_classifier({"model": config.to_dict()}, old, tmp_path)
    assert "one convolution per residual block" in str(caught.value)
    load_classifier({"model": config.to_dict()}, state, tmp_path)  # its own weights still load


def test_attention_weights_sum_to_one_over_time():
    model = DanceClassifier(default_config("attention", streams=["rgb"])).sequence.eval()
    context, alpha = model.attend(torch.randn(4, 9, RGB_DIM))
    assert alpha.shape == (4, 9) and context.shape == (4, 32)
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(4))
    assert (alpha >= 0).all()


def test_pose_encoder_gives_102_features_per_frame():
    encoder = PoseEncoder()
    features = encoder(torch.randn(2, 5, 20, 2, 17))
    assert features.shape == (2, 5, POSE_DIM) and (features >= 0).all()  # after the ReLU
    assert encoder.classify(torch.randn(3, 20, 2, 17)).shape == (3, 10)


def test_the_people_encoder_ignores_the_order_people_are_listed_in_and_the_empty_slots():
    torch.manual_seed(0)
    encoder = PeopleEncoder()
    poses = torch.zeros(2, 20, 2, 17)
    poses[:, :3] = torch.rand(2, 3, 2, 17) * 2 - 1
    listed_otherwise = poses[:, [2, 0, 1, *range(3, 20)]]
    features = encoder(poses)
    assert features.shape == (2, POSE_DIM) and encoder.classify(poses).shape == (2, 10)
    torch.testing.assert_close(encoder(listed_otherwise), features)
    # the mean is over the three people found, not the twenty slots: a fourth copy of person 0 moves it
    with_copy = poses.clone()
    with_copy[:, 3] = poses[:, 0]
    assert not torch.allclose(encoder(with_copy), features)
    assert encoder(torch.zeros(1, 20, 2, 17)).abs().sum() == 0  # nobody found: all zeros, not NaN


def test_the_placed_encoder_reads_each_skeleton_in_its_box_as_people_does_and_where_the_box_is():
    from dancestyle.features import PlacedPeopleEncoder
    from dancestyle.pose import normalise_skeletons

    torch.manual_seed(0)
    encoder = PlacedPeopleEncoder()
    poses = torch.zeros(1, 20, 2, 17)
    poses[:, :2] = torch.rand(1, 2, 2, 17) - 0.5  # frame coordinates: two people
    each = encoder.each_person(poses)
    own_box = normalise_skeletons(poses[0, :2].transpose(1, 2).numpy())  # (people, 17, 2), the usual pose form
    torch.testing.assert_close(each[0, :2, :34], torch.from_numpy(own_box).transpose(1, 2).flatten(-2))
    low, high = poses[0, 0].amin(-1), poses[0, 0].amax(-1)
    torch.testing.assert_close(each[0, 0, 34:], torch.stack([(low[0] + high[0]) / 2, high[0] - low[0],
                                                              (low[1] + high[1]) / 2, high[1] - low[1]]))
    risen = poses.clone()
    risen[:, 0, 1] -= 0.1  # the first dancer rises (y up the frame), the same pose
    torch.testing.assert_close(encoder.each_person(risen)[..., :34], each[..., :34])
    assert not torch.allclose(encoder(risen), encoder(poses))
    torch.testing.assert_close(encoder(poses[:, [1, 0, *range(2, 20)]]), encoder(poses))  # any order
    assert encoder(torch.zeros(1, 20, 2, 17)).abs().sum() == 0
    config = default_config("tcn", streams=["pose"], pose_encoder="placed")
    assert config.stream_forms == {"pose": "frame"} and default_config("tcn", streams=["pose"]).stream_forms == {}
    assert isinstance(DanceClassifier(config).pose_encoder, PlacedPeopleEncoder)


def test_configs_choose_their_pose_encoder_and_older_checkpoints_get_the_papers():
    assert isinstance(DanceClassifier(default_config("tcn", streams=["pose"])).pose_encoder, PeopleEncoder)
    slots = DanceClassifier(default_config("tcn", streams=["pose"], pose_encoder="slots"))
    assert isinstance(slots.pose_encoder, PoseEncoder)
    recorded = default_config("lstm", streams=["pose"]).to_dict()
    del recorded["pose_encoder"]  # a config.json written before the setting existed
    assert config_from_dict(recorded).pose_encoder == "slots"
    with pytest.raises(UsageError, match="pose encoder"):
        default_config("lstm", pose_encoder="graph")


def test_config_round_trips_and_unknown_names_list_the_valid_ones():
    config = default_config("tcn", channels=16, streams=["pose"])
    assert config_from_dict(config.to_dict()) == config
    with pytest.raises(UnknownModelError) as caught:
        model_spec("transformer")
    assert "lstm, attention, tcn, frame" in caught.value.hint


@pytest.mark.parametrize("name", available_models())
def test_padded_batches_give_the_same_scores_as_unpadded_sequences(name):
    stream = readable_streams(name)[0]
    model = DanceClassifier(default_config(name, streams=[stream])).eval()
    short, long = inputs(1, 3, [stream])[stream], inputs(1, 6, [stream])[stream]
    padded = torch.zeros(2, *long.shape[1:])
    padded[0, :3], padded[1] = short[0], long[0]
    batch = model({stream: padded}, lengths=torch.tensor([3, 6]))
    torch.testing.assert_close(batch[0], model({stream: short})[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batch[1], model({stream: long})[0], atol=1e-5, rtol=1e-4)


def test_our_resnet18_is_torchvisions():
    """Same names, shapes and seeded initialisation, same outputs: its weights load strictly either way."""
    from torchvision.models import resnet18

    from dancestyle.features import ResNet18

    torch.manual_seed(0)
    theirs = resnet18(weights=None).eval()
    torch.manual_seed(0)
    ours = ResNet18().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in theirs.state_dict().items())
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(ours(images), theirs(images))


def test_the_rgb_backbone_runs_channels_last_and_gives_the_plain_layouts_features():
    import numpy as np

    from dancestyle.features import ResNet18, RGBBackbone

    torch.manual_seed(0)
    plain = ResNet18().eval()
    backbone = RGBBackbone(plain.state_dict()).eval()
    plain.fc = torch.nn.Identity()
    assert backbone.trunk.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    images = [np.random.default_rng(seed).integers(0, 256, (90, 160, 3), dtype=np.uint8) for seed in range(3)]
    features = backbone(images)
    with torch.inference_mode():
        expected = plain(backbone.preprocess(images))
    assert features.shape == (3, RGB_DIM)
    torch.testing.assert_close(features, expected, atol=1e-4, rtol=1e-4)


def test_stream_dropout_zeroes_one_whole_stream_of_some_clips_in_training_only():
    # (time_norm off: the features as the streams give them, to see which are zeroed)
    model = DanceClassifier(default_config("lstm", streams=["rgb", "pose"], stream_dropout=0.5, time_norm=False))
    batch = inputs(64, 3, ("rgb", "pose"))
    torch.manual_seed(0)
    features = model.train().frame_features(batch)
    rgb_gone = (features[..., :RGB_DIM] == 0).flatten(1).all(1)
    pose_gone = (features[..., RGB_DIM:] == 0).flatten(1).all(1)
    assert not (rgb_gone & pose_gone).any() and 16 < int(rgb_gone.sum() + pose_gone.sum()) < 48
    assert torch.equal(features[~rgb_gone & ~pose_gone][..., :RGB_DIM], batch["rgb"][~rgb_gone & ~pose_gone])
    evaluated = model.eval().frame_features(batch)
    assert not (evaluated[..., :RGB_DIM] == 0).flatten(1).all(1).any()


@pytest.mark.parametrize("name", ["lstm", "attention", "tcn"])
def test_late_fusion_averages_the_probabilities_of_one_network_per_stream(name):
    model = DanceClassifier(default_config(name, streams=["pose", "flow"], fusion="late")).eval()
    batch = inputs(3, 12, ("pose", "flow"))
    with torch.inference_mode():
        features = model.frame_features(batch)
        pose_scores, flow_scores = model.sequence.stream_scores(features, None)
        mean = (torch.softmax(pose_scores, -1) + torch.softmax(flow_scores, -1)) / 2
        torch.testing.assert_close(torch.softmax(model(batch), -1), mean)
        moved = model.sequence.stream_scores(model.frame_features({**batch, "flow": -batch["flow"]}), None)
    torch.testing.assert_close(moved[0], pose_scores)  # each network reads its own stream only
    assert not torch.allclose(moved[1], flow_scores)
    labels = torch.tensor([0, 4, 9])
    with torch.inference_mode():
        loss, scores = model.loss(batch, None, labels)
        expected = sum(torch.nn.functional.cross_entropy(s, labels) for s in (pose_scores, flow_scores)) / 2
        torch.testing.assert_close(loss, expected)  # each stream's cross-entropy, averaged
        torch.testing.assert_close(scores, model(batch))
    assert model.train().loss(batch, None, labels)[0].requires_grad


def test_fusion_is_checked_against_what_the_model_can_take():
    from dancestyle.errors import UsageError

    for name, fusion in (("frame", "late"), ("r3d", "early"), ("tcn", "middle")):
        with pytest.raises(UsageError, match="takes fusion"):
            default_config(name, streams=["pose", "flow"], fusion=fusion)
    recorded = default_config("r3d").to_dict()
    del recorded["fusion"]  # an r3d checkpoint from before the setting: r3d always fused late
    assert config_from_dict(recorded).fusion == "late"
    recorded = default_config("tcn", streams=["pose", "flow"], fusion="early").to_dict()
    del recorded["fusion"]  # a tcn checkpoint from before the setting: fused early (the default is now late)
    assert default_config("tcn").fusion == "late" and config_from_dict(recorded).fusion == "early"
    assert type(DanceClassifier(default_config("tcn", streams=["pose"], fusion="late")).sequence) is TCNModel
