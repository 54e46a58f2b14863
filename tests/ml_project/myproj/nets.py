import dataclasses

import torch
from torch import nn

from myproj.config import Reduce


@dataclasses.dataclass
class NetConfig:
    width: int = 8
    depth: int = 2
    pool: Reduce = Reduce.MAX


class ResidualLayer(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.linear(x))


class TabularNet(nn.Module):
    """A torch model whose submodules and config are instances of other user classes."""

    def __init__(self, config: NetConfig, inputs=4):
        super().__init__()
        self.config = config
        self.embed = nn.Linear(inputs, config.width)
        self.blocks = nn.ModuleList([ResidualLayer(config.width) for _ in range(config.depth)])
        self.head = nn.Linear(config.width, 1)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        x = x.max(dim=1, keepdim=True).values if self.config.pool is Reduce.MAX else x.mean(dim=1, keepdim=True)
        return self.head(x.expand(-1, self.config.width))
