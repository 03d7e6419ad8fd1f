import pytest
import torch

from dancestyle.errors import UnknownModelError
from dancestyle.features import POSE_DIM, RGB_DIM, PoseEncoder, feature_dim
from dancestyle.models import (CLASSES, DanceClassifier, TCNModel, available_models, config_from_dict,
                               default_config, model_spec)


def inputs(batch: int, steps: int):
    return torch.randn(batch, steps, RGB_DIM), torch.rand(batch, steps, 20, 2, 17) * 2 - 1


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("steps", [1, 7])
def test_every_model_runs_forward_with_finite_scores(name, steps):
    model = DanceClassifier(default_config(name)).eval()
    scores = model(*inputs(3, steps))
    assert scores.shape == (3, len(CLASSES))
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("streams,width", [(["rgb"], 512), (["pose"], 102), (["rgb", "pose"], 614)])
def test_streams_can_be_switched_off(streams, width):
    model = DanceClassifier(default_config("lstm", streams=streams)).eval()
    assert model.sequence.lstm.input_size == width == feature_dim(tuple(streams))
    assert (model.pose_encoder is None) == ("pose" not in streams)
    rgb, poses = inputs(2, 5)
    assert model(rgb if "rgb" in streams else None, poses if "pose" in streams else None).shape == (2, 10)


def test_paper_hyper_parameters_are_the_defaults():
    lstm, attention, tcn = (default_config(name) for name in ("lstm", "attention", "tcn"))
    assert (lstm.hidden, lstm.stride, lstm.dropout, lstm.lr, lstm.batch_size) == (128, 60, 0.7, 0.0167, 64)
    assert (attention.hidden, attention.stride, attention.lr, attention.batch_size) == (32, 30, 0.0591, 16)
    assert (tcn.channels, tcn.levels, tcn.kernel_size, tcn.stride, tcn.lr) == (128, 6, 3, 5, 0.0022)


def test_tcn_sees_exactly_126_steps_of_history_and_no_future():
    model = DanceClassifier(default_config("tcn", streams=["rgb"])).sequence.eval()
    assert isinstance(model, TCNModel) and model.receptive_field == 126
    x = torch.randn(1, 200, RGB_DIM, requires_grad=True)
    model(x).sum().backward()
    reaching = (x.grad.abs().sum(dim=2)[0] > 0).nonzero().flatten()
    assert reaching.min().item() == 200 - 1 - 126 and reaching.max().item() == 199
    # causality: the output at step t does not change when later steps change
    blocks = model.blocks.eval()
    y = torch.randn(1, RGB_DIM, 50)
    changed = y.clone()
    changed[:, :, 30:] = 0
    torch.testing.assert_close(blocks(y)[:, :, :30], blocks(changed)[:, :, :30])


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


def test_config_round_trips_and_unknown_names_list_the_valid_ones():
    config = default_config("tcn", channels=16, streams=["pose"])
    assert config_from_dict(config.to_dict()) == config
    with pytest.raises(UnknownModelError) as caught:
        model_spec("transformer")
    assert "lstm, attention, tcn" in caught.value.hint


@pytest.mark.parametrize("name", available_models())
def test_padded_batches_give_the_same_scores_as_unpadded_sequences(name):
    model = DanceClassifier(default_config(name, streams=["rgb"])).eval()
    short, long = torch.randn(1, 3, RGB_DIM), torch.randn(1, 6, RGB_DIM)
    padded = torch.zeros(2, 6, RGB_DIM)
    padded[0, :3], padded[1] = short[0], long[0]
    batch = model(padded, None, lengths=torch.tensor([3, 6]))
    torch.testing.assert_close(batch[0], model(short, None)[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batch[1], model(long, None)[0], atol=1e-5, rtol=1e-4)


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
