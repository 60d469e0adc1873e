"""Your own model from a file: every way a file can be wrong is one clear line."""

from __future__ import annotations

import textwrap

import pytest

from cnn_gui.core.model.models import (
    ModelError,
    NeedsModelFile,
    get_spec,
    load_user_spec,
    spec_for_architecture,
)

GOOD = """
import torch.nn as nn
class Net(nn.Module):
    {attrs}
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        return self.fc(x.flatten(1))
"""


def write(tmp_path, attrs: str = "", body: str | None = None) -> str:
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent(body) if body is not None else GOOD.format(attrs=attrs or "pass"))
    return f"{path}:Net"


@pytest.mark.parametrize("attrs, message", [
    ('num_classes = "ten"', "num_classes must be a whole number"),
    ("input_shape = 28", "input_shape must be three whole numbers"),
    ("input_shape = (1, 28, 28, 1)", "input_shape must be three whole numbers"),
    ("input_shape = (1, 99999, 28)", "input_shape must be three whole numbers"),
])
def test_odd_class_attributes_are_one_line(tmp_path, attrs, message):
    with pytest.raises(ModelError, match=message) as info:
        load_user_spec(write(tmp_path, attrs))
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300


@pytest.mark.parametrize("statement, what", [
    ("import sys; sys.exit(3)", "exit"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("raise RuntimeError('boom')", "RuntimeError: boom"),
])
def test_a_file_that_exits_or_raises_while_importing(tmp_path, statement, what):
    with pytest.raises(ModelError, match=f"importing .*mine.py failed: {what}"):
        load_user_spec(write(tmp_path, body=statement + "\n"))


def test_a_model_without_parameters_cannot_train(tmp_path):
    from cnn_gui.core.config import ConfigError, TrainConfig
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.engine import Trainer

    ref = write(tmp_path, body="""
        import torch.nn as nn
        class Net(nn.Module):
            def forward(self, x):
                return x.flatten(1)[:, :10]
    """)
    spec = load_user_spec(ref)
    with pytest.raises(ConfigError, match="has no trainable parameters"):
        Trainer(TrainConfig(model=ref), data=load_dataset("mnist").subset(100, 100), spec=spec)


def test_names_from_files_are_never_imported(tmp_path):
    ref = write(tmp_path)
    with pytest.raises(ModelError, match="your own model class"):
        get_spec(ref)
    with pytest.raises(NeedsModelFile) as info:
        spec_for_architecture("user:Net")
    assert info.value.class_name == "Net" and info.value.recorded_path == ""
    spec = load_user_spec(ref)  # the user's own action
    assert spec.architecture == "user:Net"
    assert spec_for_architecture("user:Net", spec) is spec
    with pytest.raises(NeedsModelFile):
        spec_for_architecture("user:Other", spec)  # another class: the file must be chosen again
