"""How training updates weights: the optimizers (configs.OPTIMIZERS), one gradient step clipped to MAX_GRAD_NORM,
and the per-frame pre-training of the pose and flow encoders before the sequence model trains (paper.md)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .features import mirror_flow
from .models import DanceClassifier
from .sequences import Sequences

# paper.md (pose): per-frame, SGD Nesterov, batch 100; lr: the recipe's
ENCODER_PRETRAIN_BATCH = 100  # epochs: ModelConfig.pretrain_epochs
# the flow encoder (a CNN) is fine-tuned at most at this lr: at the attention's 0.0591 it diverged within 3 epochs
ENCODER_MAX_LR = {"flow": 0.01}
# the encoders whose pre-training sees half its frames mirrored (the flow CNN: left and right moves alike)
PRETRAIN_MIRRORS = {"flow": mirror_flow}
# gradients are rescaled to at most this norm before each step: attention on flow alone diverged without it (train
# accuracy 0.9 -> 0.14 within 60 epochs); recurrent nets' usual guard (models.md)
MAX_GRAD_NORM = 5.0


def optimizer(parameters, lr: float, weight_decay: float, momentum: float = 0.9,
               kind: str = "sgd") -> torch.optim.Optimizer:
    """configs.OPTIMIZERS: "sgd" (Nesterov momentum) or "adamw" (momentum is Adam's own, so unused)."""
    if kind == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)


def sequence_optimizer(model: DanceClassifier, frozen_encoder: bool = False) -> torch.optim.Optimizer:
    """The model's optimizer with its tuned settings. Its weight decay was tuned for the sequence model; the per-frame
    encoders keep training without it, as in their pre-training: decaying the pose encoder's few weights starves
    the sequence model of pose features (on the synthetic corpus, lstm pose-only fell from 85% to 66% test
    accuracy with it). Frozen encoders (the "paper" recipe) are left out."""
    config = model.config
    groups = [{"params": list(model.sequence.parameters())}]
    for stream, encoder in model.encoders().items():
        encoder.requires_grad_(not frozen_encoder)
        if not frozen_encoder:
            groups.append({"params": list(encoder.parameters()), "weight_decay": 0.0,
                           "lr": min(config.lr, ENCODER_MAX_LR.get(stream, config.lr))})
    return optimizer(groups, config.lr, config.weight_decay, config.momentum, config.optimizer)


def pretrain_encoders(model: DanceClassifier, train: Sequences, seed: int, device: str, lr: float,
                      clip: bool = True) -> None:
    """Per-frame classification with each trained encoder (pose: paper.md; flow: the same, as Simonyan &
    Zisserman train their temporal net on single stacks); an encoder keeps what it learned, its head is unused.
    Flow stacks are mirrored at random, as in training. With pretrain_epochs 0 nothing is gathered at all.
    `clip`: each step's gradient clipped (see step)."""
    if not model.config.pretrain_epochs:
        return
    for stream, encoder in model.encoders().items():
        frames = np.concatenate([features[stream] for features in train.features])
        labels = np.concatenate([np.full(len(features[stream]), label)
                                 for features, label in zip(train.features, train.labels)])
        mirror = PRETRAIN_MIRRORS.get(stream)
        encoder.train()
        encoder_optimizer = optimizer(encoder.parameters(), lr, 0.0)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(model.config.pretrain_epochs):
            for batch in torch.randperm(len(frames), generator=generator).split(ENCODER_PRETRAIN_BATCH):
                rows = batch.numpy()
                inputs = frames[rows]
                if mirror is not None and bool(torch.rand(1, generator=generator) < 0.5):
                    inputs = mirror(inputs)
                scores = encoder.classify(torch.from_numpy(inputs.astype(np.float32)).to(device))
                step(encoder_optimizer, nn.functional.cross_entropy(scores, torch.from_numpy(labels[rows]).to(device)),
                     clip)


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: bool = True) -> None:
    """One optimizer step on `loss`, its gradient clipped to MAX_GRAD_NORM over every parameter that has one (not
    `clip`: left as it is, as in the authors' train loop: configs.Recipe.clip_gradients)."""
    optimizer.zero_grad()
    loss.backward()
    if clip:
        nn.utils.clip_grad_norm_([parameter for group in optimizer.param_groups for parameter in group["params"]
                                  if parameter.grad is not None], MAX_GRAD_NORM)
    optimizer.step()
