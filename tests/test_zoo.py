"""Switchers on classifiers no issue built them for: torchvision's, at small inputs, gated on their
heads (and where the graph allows, their convs), with random gates of which about a third are 0.
compact()'s outputs equal the gated model's in evaluation mode, and the weights it keeps are the
counted ones; what is refused is refused in one line that names the module and the reason.
The README's "your own model" table lists these rows (a test below keeps the two in step)."""
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from snn_edu.analysis import compact, param_counts
from snn_edu.errors import ConfigError
from snn_edu.nets import gate_classifier

TOLERANCE = dict(rtol=1e-5, atol=1e-6)  # float32 sums in another order


def user_sequential():
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=True), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(128, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


# (row, model, linear layers, conv layers, image side, None or the refusal's words)
ZOO = [
    ("VGG11-BN head", lambda: torchvision.models.vgg11_bn(num_classes=10), ["classifier.6"], (), 32, None),
    ("VGG11-BN convs", lambda: torchvision.models.vgg11_bn(num_classes=10), ["classifier.6"],
     ["features.0", "features.4"], 32, None),
    ("AlexNet head", lambda: torchvision.models.alexnet(num_classes=10), ["classifier.6"], (), 64, None),
    ("ResNet18 head", lambda: torchvision.models.resnet18(num_classes=10), ["fc"], (), 32, None),
    ("ResNet18 block convs (residual additions)", lambda: torchvision.models.resnet18(num_classes=10), ["fc"],
     ["layer3.*"], 32, None),
    ("ResNet18 block convs without the input's shape", lambda: torchvision.models.resnet18(num_classes=10), ["fc"],
     ["layer3.*"], 32, "need the input's shape"),
    ("MobileNetV2 head", lambda: torchvision.models.mobilenet_v2(num_classes=10), True, (), 32, None),
    ("MobileNetV2 convs (depthwise, residual additions)", lambda: torchvision.models.mobilenet_v2(num_classes=10),
     True, ["features.2.*", "features.3.*"], 32, None),
    ("MobileNetV3-small head (two layers, biases)", lambda: torchvision.models.mobilenet_v3_small(num_classes=10),
     True, (), 32, None),
    ("EfficientNet-B0 head", lambda: torchvision.models.efficientnet_b0(num_classes=10), True, (), 32, None),
    ("EfficientNet-B0 convs (squeeze-and-excitation)", lambda: torchvision.models.efficientnet_b0(num_classes=10),
     True, ["features.2.*"], 32, None),
    ("DenseNet121 head", lambda: torchvision.models.densenet121(num_classes=10), True, (), 32, None),
    ("DenseNet121 convs (concatenations)", lambda: torchvision.models.densenet121(num_classes=10), True,
     ["features.denseblock1.denselayer1.*", "features.denseblock1.denselayer2.*"], 32, None),
    ("ConvNeXt-tiny head", lambda: torchvision.models.convnext_tiny(num_classes=10), ["classifier.2"], (), 32, None),
    ("ConvNeXt-tiny block conv (LayerNorm across channels)", lambda: torchvision.models.convnext_tiny(num_classes=10),
     ["classifier.2"], ["features.1.0.*"], 32, None),
    ("ConvNeXt-tiny every Linear", lambda: torchvision.models.convnext_tiny(num_classes=10), True, (), 32,
     "do not sit in one chain"),
    ("nn.Sequential with biases and an adaptive pool", user_sequential, True, ["0"], 12, None),
    ("nn.Sequential with a BatchNorm2d after its gated conv",
     lambda: nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                           nn.Flatten(), nn.Linear(32, 10)), True, ["0"], 12, None),
    ("nn.Sequential with a grouped conv (two groups)",
     lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2), nn.ReLU(), nn.Flatten(),
                           nn.Linear(8 * 8 * 8, 10)), True, ["2"], 12, "only square, undilated convs"),
]
NO_SHAPE = {"ResNet18 block convs without the input's shape"}  # rows whose gate_classifier is not told it


def random_gates(model, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for layer in model.gated_layers().values():
        n = layer.out_channels if hasattr(layer, "out_channels") else layer.in_features
        gate = torch.rand(n, generator=generator) + 0.5
        gate[torch.rand(n, generator=generator) < 0.33] = 0
        layer.set_fixed_gate(gate)


@pytest.mark.parametrize("row, build, linear, conv, side, refusal", ZOO, ids=[z[0] for z in ZOO])
def test_a_zoo_classifier_is_gated_and_compacted_exactly_or_refused_in_one_line(row, build, linear, conv, side,
                                                                                  refusal):
    torch.manual_seed(0)
    x = torch.rand(2, 3, side, side)
    try:
        example = None if row in NO_SHAPE else (3, side, side)
        gated = gate_classifier(build(), linear=linear, conv=list(conv), switcher="lite", example=example).eval()
        random_gates(gated)
        with torch.no_grad():
            small = compact(gated)
            difference = (small(x) - gated(x)).abs().max().item()
            torch.testing.assert_close(small(x), gated(x), **TOLERANCE)
    except ConfigError as refused:
        assert refusal is not None, f"{row}: refused ({refused})"
        assert refusal in str(refused) and "\n" not in str(refused)
        return
    assert refusal is None, f"{row}: should be refused with '{refusal}', compacted instead ({difference:.1e})"
    kept, _ = param_counts(gated)
    modules = dict(small.named_modules())
    at = [modules[name] for name in gated.gated_layers()]  # what each gated layer became
    assert sum(p.numel() for m in at for p in m.parameters() if p.dim() > 1) == kept, row


def test_the_readme_lists_every_zoo_row_and_its_outcome():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for row, *_, refusal in ZOO:
        line = next((ln for ln in readme.splitlines() if ln.startswith(f"| {row} |")), None)
        assert line is not None, f"README's model table lacks '{row}'"
        assert ("refused" in line) == (refusal is not None), line
