"""Puppet-Master's drag-conditioned UNet blocks: diffusers' SVD cross-attention blocks plus
per-layer drag modulation (DragEmbedding FiLM) and drag tokens appended to the cross-attention context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.unets.unet_3d_blocks import (
    CrossAttnDownBlockSpatioTemporal,
    CrossAttnUpBlockSpatioTemporal,
)
from torch import nn

from .context import BlockDrags, Modulation


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class DragEmbedding(nn.Module):
    """The small CNN (official `flow_convs.j`) mapping a block's drag maps to FiLM scale and shift.

    3x3 convolutions with SiLU, no normalisation or striding; `conv_out` is zero-initialised.
    """

    def __init__(self, in_channels: int, out_channels: int, block_channels: Sequence[int]) -> None:
        super().__init__()
        self.conv_in = _conv3x3(in_channels, block_channels[0])
        blocks = []
        for current, following in zip(block_channels[:-1], block_channels[1:], strict=True):
            blocks.append(_conv3x3(current, current))
            blocks.append(_conv3x3(current, following))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = _conv3x3(block_channels[-1], out_channels)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, drag_maps: torch.Tensor) -> torch.Tensor:
        """(N, 6K, h, w) drag maps -> (N, out_channels, h, w)."""
        hidden = F.silu(self.conv_in(drag_maps))
        for conv in self.blocks:
            hidden = F.silu(conv(hidden))
        return self.conv_out(hidden)


@dataclass(frozen=True)
class DragOptions:
    """Drag-conditioning hyper-parameters shared by every drag block (official constructor names)."""

    num_drags: int
    drag_embedder_out_channels: tuple[int, ...]
    pos_embed_dim: int
    use_modulate: bool
    drag_token_cross_attn: bool


class DragConditioning:
    """Mixin adding `flow_convs` and `drag_token_mlps` to a diffusers cross-attention block."""

    resnets: nn.ModuleList
    flow_convs: nn.ModuleList
    drag_token_mlps: nn.ModuleList | None
    gradient_checkpointing: bool

    def _add_drag_modules(self, channels: int, cross_attention_dim: int, options: DragOptions) -> None:
        num_layers = len(self.resnets)
        film_channels = 2 * channels if options.use_modulate else channels
        self.use_modulate = options.use_modulate
        self.flow_convs = nn.ModuleList(
            DragEmbedding(6 * options.num_drags, film_channels, options.drag_embedder_out_channels)
            for _ in range(num_layers)
        )
        self.drag_token_mlps = None
        if options.drag_token_cross_attn:
            token_in = 2 * channels + 2 * options.pos_embed_dim
            self.drag_token_mlps = nn.ModuleList(
                nn.Sequential(
                    nn.Linear(token_in, cross_attention_dim),
                    nn.SiLU(),
                    nn.Linear(cross_attention_dim, cross_attention_dim),
                )
                for _ in range(num_layers)
            )

    def modulations(self, drag_maps: torch.Tensor) -> tuple[Modulation, ...]:
        """Run every layer's DragEmbedding on (BF, 6K, h, w) drag maps (drag-only work, done once)."""
        result = []
        for flow_conv in self.flow_convs:
            film = flow_conv(drag_maps)
            if self.use_modulate:
                scale, shift = film.chunk(2, dim=1)
                result.append(Modulation(scale_plus_one=1 + scale, shift=shift))
            else:
                result.append(Modulation(scale_plus_one=None, shift=film))
        return tuple(result)

    def _run_layer(
        self,
        layer: int,
        hidden_states: torch.Tensor,
        temb: torch.Tensor,
        clip_tokens: torch.Tensor,
        image_only_indicator: torch.Tensor,
        drags: BlockDrags,
    ) -> torch.Tensor:
        """One layer: resnet -> FiLM modulation -> drag tokens -> spatio-temporal transformer."""
        resnet, attn = self.resnets[layer], self.attentions[layer]
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            hidden_states = self._gradient_checkpointing_func(resnet, hidden_states, temb, image_only_indicator)
        else:
            hidden_states = resnet(hidden_states, temb, image_only_indicator=image_only_indicator)
        modulation = drags.modulations[layer]
        if modulation.shift.shape[-2:] != hidden_states.shape[-2:]:
            raise ValueError(
                f"drag context prepared for a {tuple(modulation.shift.shape[-2:])} feature map, but this block "
                f"sees {tuple(hidden_states.shape[-2:])}: prepare_drags got the wrong latent_size"
            )
        hidden_states = modulation.apply(hidden_states)
        context = clip_tokens
        if self.drag_token_mlps is not None:
            tokens = self._drag_tokens(self.drag_token_mlps[layer], hidden_states, drags)
            context = torch.cat([clip_tokens, tokens], dim=1)
        return attn(
            hidden_states, encoder_hidden_states=context, image_only_indicator=image_only_indicator, return_dict=False
        )[0]

    @staticmethod
    def _drag_tokens(mlp: nn.Module, hidden_states: torch.Tensor, drags: BlockDrags) -> torch.Tensor:
        """(BF, K, D) tokens from the features at each drag's start and current point of its frame."""
        slots = drags.keep.shape[1]
        features = hidden_states.detach()
        if features.dtype != torch.float32:
            features = features.float()
        sampled = F.grid_sample(features, drags.grid, mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled[:, :, 0].transpose(1, 2).to(hidden_states.dtype)
        token_inputs = torch.cat([sampled[:, :slots], sampled[:, slots:], drags.positions], dim=-1)
        tokens = mlp(token_inputs)
        return torch.where(drags.keep, tokens, torch.zeros((), dtype=tokens.dtype, device=tokens.device))


class DragDownBlock(DragConditioning, CrossAttnDownBlockSpatioTemporal):
    """`CrossAttnDownBlockSpatioTemporalWithFlow`: per layer resnet -> FiLM -> drag tokens -> transformer."""

    def __init__(self, *, drag_options: DragOptions, **block_kwargs) -> None:
        super().__init__(**block_kwargs)
        self._add_drag_modules(block_kwargs["out_channels"], block_kwargs["cross_attention_dim"], drag_options)

    def forward(
        self,
        hidden_states: torch.Tensor,
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        image_only_indicator: torch.Tensor,
        drags: BlockDrags,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        output_states = ()
        for layer in range(len(self.resnets)):
            hidden_states = self._run_layer(
                layer, hidden_states, temb, encoder_hidden_states, image_only_indicator, drags
            )
            output_states = output_states + (hidden_states,)
        if self.downsamplers is not None:
            for downsampler in self.downsamplers:
                hidden_states = downsampler(hidden_states)
            output_states = output_states + (hidden_states,)
        return hidden_states, output_states


class DragUpBlock(DragConditioning, CrossAttnUpBlockSpatioTemporal):
    """`CrossAttnUpBlockSpatioTemporalWithFlow`: per layer skip concat -> resnet -> FiLM -> tokens -> transformer.

    Unlike diffusers' stock up block (eps 1e-6), the official one builds its resnets with eps 1e-5;
    the fixtures show the difference (about 1e-4 at the output with 1e-6).
    """

    def __init__(self, *, drag_options: DragOptions, **block_kwargs) -> None:
        super().__init__(resnet_eps=1e-5, **block_kwargs)
        self._add_drag_modules(block_kwargs["out_channels"], block_kwargs["cross_attention_dim"], drag_options)

    def forward(
        self,
        hidden_states: torch.Tensor,
        res_hidden_states_tuple: tuple[torch.Tensor, ...],
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        image_only_indicator: torch.Tensor,
        drags: BlockDrags,
        upsample_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        for layer in range(len(self.resnets)):
            hidden_states = torch.cat([hidden_states, res_hidden_states_tuple[-1]], dim=1)
            res_hidden_states_tuple = res_hidden_states_tuple[:-1]
            hidden_states = self._run_layer(
                layer, hidden_states, temb, encoder_hidden_states, image_only_indicator, drags
            )
        if self.upsamplers is not None:
            for upsampler in self.upsamplers:
                hidden_states = upsampler(hidden_states, upsample_size)
        return hidden_states
