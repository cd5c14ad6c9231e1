"""Small plain-``nn.Module`` nets covering the ops of the classic classifiers (ResNet,
ResNeXt, wide ResNet, VGG-BN, AlexNet, SqueezeNet, GoogLeNet, DenseNet), written here so the
export tests need no torchvision; :func:`randomise` gives them seeded weights and BatchNorm
statistics that are not the identity."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded weights; BatchNorm running statistics, gamma and beta drawn away from their
    initial 0/1 (so a BatchNorm exported wrongly cannot pass). Returns the model in eval."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return model.eval()


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, cout, stride=1, groups=1, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1, groups=1, width=64):
        super().__init__()
        mid = int(planes * (width / 64.0)) * groups
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet layout (stem, four stages, adaptive pool, fc), narrow."""

    def __init__(self, block, layers, groups=1, width=64, base=16, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = base, []
        for i, n in enumerate(layers):
            planes = base * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1, groups, width))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGGBN(nn.Module):
    """vgg*_bn / AlexNet style: conv-BN-ReLU, max pools, flatten, Linear-ReLU-Dropout."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(nn.Linear(16 * 9, 32), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(32, classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """squeezenet1_1 layout: ceil-mode max pools, Fire modules, conv classifier."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8, 8),
            nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 8, 16, 16))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(32, classes, 1),
                                        nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class Inception(nn.Module):
    """GoogLeNet's block: four branches, a 3x3/1 ceil-mode max pool, concat."""

    def __init__(self, cin):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(cin, 8, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(cin, 4, 1), nn.ReLU(),
                                     nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(cin, 4, 1), nn.ReLU(),
                                     nn.Conv2d(4, 8, 5, padding=2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                     nn.Conv2d(cin, 8, 1), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNetish(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(16)
        self.avgpool = nn.AvgPool2d(3, 1, 1)  # count_include_pad=True: Caffe's divisor
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.inception3a(self.maxpool1(F.relu(self.conv1(x))))
        x = F.adaptive_avg_pool2d(self.avgpool(x), 1)
        return self.fc(F.dropout(torch.flatten(x, 1), 0.2, training=self.training))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseNetish(nn.Module):
    """densenet121's pattern: dense layers over a growing concat, transition avg pool."""

    def __init__(self, classes=10, growth=4):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layers = nn.ModuleList([DenseLayer(8 + i * growth, growth) for i in range(3)])
        self.norm = nn.BatchNorm2d(8 + 3 * growth)
        self.pool = nn.AvgPool2d(2, 2)
        self.classifier = nn.Linear(8 + 3 * growth, classes)

    def forward(self, x):
        features = [self.conv0(x)]
        for layer in self.layers:
            features.append(layer(features))
        x = self.pool(F.relu(self.norm(torch.cat(features, 1))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return torch.softmax(self.classifier(x), 1)


class Arithmetic(nn.Module):
    """Scalar and element-wise arithmetic, the other activations, pooling rounding cases."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1, dilation=1)
        self.dil = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=3)
        self.floor_pool = nn.MaxPool2d(2, 2)                 # odd input: floor differs
        self.avg_ceil = nn.AvgPool2d(3, 2, 1, ceil_mode=True)
        self.leaky = nn.LeakyReLU(0.1)
        self.gate = nn.Sigmoid()
        self.six = nn.ReLU6()
        self.hard = nn.Hardtanh(-0.5, 0.25)
        self.prelu = nn.PReLU(6, init=0.2)
        self.prelu1 = nn.PReLU(1, init=-0.3)

    def forward(self, x):
        y = self.conv(x * 0.5 + 1.0)
        y = self.dil(y - 0.25) / 4.0
        a, b = torch.tanh(y), self.gate(y)
        y = self.leaky(a * b - y) + (-a)
        z = self.six(y * 8.0) + self.hard(y) + y.clamp(max=0.1) + y.clamp(min=-0.2)
        z = self.prelu(z) + self.prelu1(z)
        up = F.interpolate(z, scale_factor=(2, 3), mode="nearest")
        return self.avg_ceil(self.floor_pool(y)), 2.0 - y, z, up
