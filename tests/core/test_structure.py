"""Freezing, "run the network up to here", the trainable counts and the tree's search (core, no Qt)."""

import pytest
import torch
from torch import nn

from cnn_gui.core.model.models import CNN, SimpleCNN
from cnn_gui.core.model.structure import (
    ModuleNode,
    build_tree,
    copy_trainable,
    extract_by_type,
    extract_up_to,
    freeze_batchnorm_stats,
    refresh_trainable,
    run_extracted,
    search,
    set_trainable,
    trainable_summary,
    up_to_expression,
)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_steps(model: nn.Module, steps: int, *, helper: bool, fused: bool = False) -> None:
    """The engine's loop in small: train mode (then the helper), Adam over all parameters."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, fused=fused)
    for _ in range(steps):
        model.train()
        if helper:
            freeze_batchnorm_stats(model)
        x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


# ------------------------------------------------------------------ freezing


@pytest.mark.slow
@pytest.mark.parametrize("fused", [False, True])
def test_frozen_layer_stays_bit_identical_while_the_rest_trains(fused):
    torch.manual_seed(1)
    model = CNN()
    count = set_trainable(model, "layer1", False)
    assert count == sum(p.numel() for p in model.layer1.parameters()) == 16 * 9 + 16 + 16 + 16
    before1, before2 = snapshot(model.layer1), snapshot(model.layer2)
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(before1)

    train_steps(model, 3, helper=True, fused=fused)

    after1 = snapshot(model.layer1)
    for key, value in before1.items():
        assert torch.equal(after1[key], value), key  # weights and BatchNorm buffers alike
    after2 = snapshot(model.layer2)
    assert not torch.equal(after2["0.weight"], before2["0.weight"])
    assert not torch.equal(after2["1.running_mean"], before2["1.running_mean"])
    assert model.layer2[1].training and not model.layer1[1].training


@pytest.mark.slow
def test_without_the_helper_a_frozen_batchnorm_still_moves():
    # Why the engine needs the helper: requires_grad alone leaves the statistics running.
    torch.manual_seed(1)
    model = CNN()
    set_trainable(model, "layer1", False)
    before = snapshot(model.layer1)
    train_steps(model, 2, helper=False)
    after = snapshot(model.layer1)
    assert torch.equal(after["0.weight"], before["0.weight"])
    assert not torch.equal(after["1.running_mean"], before["1.running_mean"])


def test_freezing_drops_stale_gradients():
    # A gradient left from an earlier run would make a new optimizer step a frozen weight.
    model = CNN()
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    assert model.layer1[0].weight.grad is not None
    set_trainable(model, "layer1", False)
    assert all(p.grad is None and not p.requires_grad for p in model.layer1.parameters())
    assert model.layer2[0].weight.grad is not None  # the rest is untouched
    weight = model.layer1[0].weight.detach().clone()
    torch.optim.Adam(model.parameters(), lr=0.1).step()
    assert torch.equal(model.layer1[0].weight, weight)


def test_set_trainable_whole_model_and_back_and_unknown_names():
    model = CNN()
    total = sum(p.numel() for p in model.parameters())
    assert set_trainable(model, "", False) == total
    summary = trainable_summary(model)
    assert (summary.trainable, summary.frozen, summary.frozen_modules) == (0, total, ("",))
    set_trainable(model, "", True)
    assert trainable_summary(model).frozen_params == ()
    with pytest.raises(ValueError, match="no module named 'layer9'"):
        set_trainable(model, "layer9", False)


def test_trainable_summary_names_the_outermost_frozen_modules():
    model = CNN()
    set_trainable(model, "layer2", False)
    set_trainable(model, "fc.3", False)
    s = trainable_summary(model)
    frozen = sum(p.numel() for p in model.layer2.parameters()) + sum(p.numel() for p in model.fc[3].parameters())
    assert s.total == sum(p.numel() for p in model.parameters())
    assert s.trainable == s.total - frozen and s.frozen == frozen
    assert s.frozen_modules == ("layer2", "fc.3")  # not layer2.0, layer2.1 besides
    assert s.frozen_params == ("layer2.0.weight", "layer2.0.bias", "layer2.1.weight", "layer2.1.bias",
                               "fc.3.weight", "fc.3.bias")
    assert s.text.endswith("frozen: layer2, fc.3")


def test_freeze_batchnorm_stats_follows_the_smallest_module_with_parameters():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, affine=False)),  # BN counts with its block
        nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)),  # BN with its own weight and bias
    )
    model.train()
    assert freeze_batchnorm_stats(model) == []
    set_trainable(model, "0", False)
    assert freeze_batchnorm_stats(model) == ["0.1"]
    assert not model[0][1].training and model[1][1].training and model[0][0].training
    model.train()
    set_trainable(model, "1.1", False)  # only the BN's own affine parameters
    assert freeze_batchnorm_stats(model) == ["0.1", "1.1"]
    model.train()
    set_trainable(model, "", True)
    assert freeze_batchnorm_stats(model) == [] and model[0][1].training

    alone = nn.Sequential(nn.BatchNorm2d(2, affine=False))  # nothing to decide by: left alone
    alone.train()
    assert freeze_batchnorm_stats(alone) == [] and alone[0].training


def test_copy_trainable_and_refresh_tree():
    model = CNN()
    tree = build_tree(model, (1, 28, 28))
    set_trainable(model, "layer3", False)
    refresh_trainable(tree, model)
    layer3 = next(n for n in tree.walk() if n.name == "layer3")
    assert layer3.trainable_params == 0 and layer3.total_params > 0
    assert all(not p.trainable for p in layer3.all_params())
    assert tree.trainable_params == trainable_summary(model).trainable
    assert tree.total_params == sum(p.numel() for p in model.parameters())
    assert next(n for n in tree.walk() if n.name == "layer3.0").output_shape == (64, 10, 10)  # shapes kept

    fresh = CNN()
    copy_trainable(model, fresh)
    assert trainable_summary(fresh).frozen_params == trainable_summary(model).frozen_params


# ------------------------------------------------------------------ run up to here


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return CNN().eval()


@pytest.mark.parametrize("name,shape", [("layer1", (1, 16, 26, 26)), ("layer2", (1, 32, 12, 12)),
                                        ("layer3", (1, 64, 10, 10)), ("layer4", (1, 128, 4, 4))])
def test_extract_up_to_is_the_tutorials_sequential(cnn, name, shape):
    part = extract_up_to(cnn, name)
    k = [n for n, _ in cnn.named_children()].index(name) + 1
    assert up_to_expression(cnn, name) == f"nn.Sequential(*list(model.children())[:{k}])"
    assert list(part) == list(cnn.children())[:k]  # the same modules, not copies
    assert str(part) == str(nn.Sequential(*list(cnn.children())[:k]))
    x = torch.randn(1, 1, 28, 28)
    out = run_extracted(part, x)
    assert tuple(out.shape) == shape
    with torch.inference_mode():
        assert torch.equal(out, nn.Sequential(*list(cnn.children())[:k])(x))


@pytest.mark.parametrize("cls,last,shape", [(CNN, "fc", (1, 1, 28, 28)), (SimpleCNN, "layer4", (1, 3, 32, 32))])
def test_up_to_the_last_child_flattens_and_is_the_whole_network(cls, last, shape):
    torch.manual_seed(0)
    model = cls().eval()
    part = extract_up_to(model, last)
    n = len(list(model.children()))
    assert isinstance(part[n - 1], nn.Flatten) and len(part) == n + 1
    assert up_to_expression(model, last) == (f"nn.Sequential(*list(model.children())[:{n - 1}], nn.Flatten(), "
                                             f"*list(model.children())[{n - 1}:{n}])")
    x = torch.randn(*shape)
    with torch.inference_mode():
        assert torch.allclose(run_extracted(part, x), model(x), atol=1e-6)
    # Without the Flatten, as the tutorial warns, the Sequential fails on the maps.
    with pytest.raises(ValueError, match="cannot run on a") as err:
        run_extracted(nn.Sequential(*list(model.children())), x)
    assert "\n" not in str(err.value) and len(str(err.value)) <= 300


def test_no_flatten_when_the_model_already_flattens():
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(1, 2, 3))
    model.add_module("flat", nn.Flatten())
    model.add_module("head", nn.Linear(2 * 26 * 26, 3))
    assert not any(isinstance(m, nn.Flatten) and m is not model.flat for m in extract_up_to(model, "head"))
    assert up_to_expression(model, "head") == "nn.Sequential(*list(model.children())[:3])"
    assert run_extracted(extract_up_to(model, "head"), torch.zeros(1, 1, 28, 28)).shape == (1, 3)


def test_extract_up_to_refuses_nested_and_unknown_names(cnn):
    with pytest.raises(ValueError, match="direct children .*'layer2.0' is inside 'layer2'"):
        extract_up_to(cnn, "layer2.0")
    with pytest.raises(ValueError, match="not a direct child"):
        extract_up_to(cnn, "nope")


def test_all_conv_layers_chain_without_what_lies_between(cnn):
    # The tutorial's "extract all conv layers" is a different network: convs alone.
    convs = extract_by_type(cnn, nn.Conv2d)
    assert [n for n, _ in convs.named_children()] == ["layer1_0", "layer2_0", "layer3_0", "layer4_0"]
    assert tuple(run_extracted(convs, torch.zeros(1, 1, 28, 28)).shape) == (1, 128, 20, 20)


# ------------------------------------------------------------------ search (the tree view's filter)


def rows_found(tree, text="", type_name=None):
    return [("module" if isinstance(r, ModuleNode) else "param", r.name) for r in search(tree, text, type_name)]


def test_search_without_text_or_type_is_every_row_in_tree_order():
    model = SimpleCNN()
    found = rows_found(build_tree(model))
    assert [n for k, n in found if k == "module"] == [n for n, _ in model.named_modules()]
    assert [n for k, n in found if k == "param"] == [n for n, _ in model.named_parameters()]
    assert found.index(("param", "layer1.conv1.weight")) == found.index(("module", "layer1.conv1")) + 1


def test_search_by_name_finds_the_module_and_its_parameters_case_insensitively():
    tree = build_tree(SimpleCNN())
    assert rows_found(tree, "  FC1 ") == [("module", "layer4.fc1"), ("param", "layer4.fc1.weight"),
                                          ("param", "layer4.fc1.bias")]
    # A parameter matches by its own full name even when its module does not.
    assert rows_found(tree, "conv1.w") == [("param", "layer1.conv1.weight")]
    # The model itself by its class name; modules by their type.
    assert ("module", "") in rows_found(tree, "simplecnn")
    assert {n for k, n in rows_found(tree, "maxpool") if k == "module"} == {"layer1.pool1", "layer2.pool2",
                                                                            "layer3.pool3"}


def test_search_for_part_of_parameter_finds_every_parameter():
    model = CNN()
    found = rows_found(build_tree(model), "param")
    assert found == [("param", n) for n, _ in model.named_parameters()]


def test_search_by_type_keeps_those_modules_and_their_parameters_and_narrows_with_text():
    tree = build_tree(CNN())
    convs = ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert rows_found(tree, type_name="Conv2d") == [
        row for c in convs for row in (("module", c), ("param", f"{c}.weight"), ("param", f"{c}.bias"))]
    assert rows_found(tree, "", "") == rows_found(tree)  # "" is no type filter
    assert rows_found(tree, "layer2", "Conv2d") == [("module", "layer2.0"), ("param", "layer2.0.weight"),
                                                    ("param", "layer2.0.bias")]
    assert rows_found(tree, "bias", "ReLU") == []
    assert rows_found(tree, "nothing like it") == []
