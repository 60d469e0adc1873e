"""What a run may not do: train a frozen module, or read more classes than the model has outputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cnn_gui.core.model.models import get_spec
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.image_dataset import ImageDataset
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.model.models import CNN
from cnn_gui.core.model.structure import set_trainable


@pytest.mark.slow
def test_a_frozen_module_stays_bit_identical_through_a_run():
    model = CNN()
    set_trainable(model, "layer1", False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = load_dataset("mnist").subset(400, 200)
    trainer = Trainer(TrainConfig(epochs=2, batch_size=50, max_batches=3, device="cpu", amp=False),
                      model=model, data=data)
    assert trainer.fit().reason == "completed"
    after = model.state_dict()
    frozen = [k for k in before if k.startswith("layer1.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # weights and BatchNorm statistics
    assert not torch.equal(before["layer2.0.weight"], after["layer2.0.weight"])  # the rest learned


def test_weights_of_another_class_count_are_refused_before_training():
    mnist = load_dataset("mnist").subset(100, 100)
    info = dataclasses.replace(mnist.info, classes=tuple(str(i) for i in range(12)))
    twelve = ImageDataset(info, mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels)
    with pytest.raises(ConfigError, match="has 12 classes but .* has 10 outputs"):
        Trainer(TrainConfig(device="cpu"), data=twelve, model=get_spec("mnist-cnn").factory())
    # New weights are built with one output per class instead.
    trainer = Trainer(TrainConfig(device="cpu"), data=twelve)
    assert trainer.spec.num_classes == 12 and trainer.model.fc[-1].out_features == 12
