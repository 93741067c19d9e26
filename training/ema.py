"""Exponential moving average of the weights (decay 0.9999, updated once per optimiser step)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    """A float32 shadow copy of a model's parameters."""

    def __init__(self, model: nn.Module, decay: float = 0.9999) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().float().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow <- decay * shadow + (1 - decay) * parameter."""
        for name, parameter in model.named_parameters():
            self.shadow[name].mul_(self.decay).add_(parameter.detach().float(), alpha=1 - self.decay)

    @contextmanager
    @torch.no_grad()
    def swapped_into(self, model: nn.Module) -> Iterator[nn.Module]:
        """Use the EMA weights inside the block (the tensors are swapped, not copied)."""
        parameters = dict(model.named_parameters())
        for name, shadow in self.shadow.items():
            parameters[name].data, self.shadow[name] = shadow, parameters[name].data
        try:
            yield model
        finally:
            for name, live in self.shadow.items():
                parameters[name].data, self.shadow[name] = live, parameters[name].data

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged parameters by name."""
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore averaged parameters saved by `state_dict` (same names as the model's)."""
        if state.keys() != self.shadow.keys():
            raise ValueError("EMA state does not match the model's parameters")
        self.shadow = {name: tensor.float().clone() for name, tensor in state.items()}
