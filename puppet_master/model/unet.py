"""`PuppetMasterUNet`: the official `UNetDragSpatioTemporalConditionModel`, state-dict compatible."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin
from diffusers.models.attention_processor import AttnProcessor2_0
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block, get_up_block
from torch import nn
from torch._subclasses.fake_tensor import is_fake

from ..encoding import encode_drags, sincos_position_table
from .attention import AllToFirstAttnProcessor, ShortContextAttnProcessor
from .blocks import DragDownBlock, DragOptions, DragUpBlock
from .context import BlockDrags, DragContext
from .feed_forward import CHUNK_BYTES, RowChunkedFeedForward, chunk_feed_forwards

DRAG_DOWN_BLOCK = "CrossAttnDownBlockSpatioTemporal"
DRAG_UP_BLOCK = "CrossAttnUpBlockSpatioTemporal"


def _per_block(value: int | Sequence[int], count: int, name: str) -> list[int]:
    if isinstance(value, int):
        return [value] * count
    if len(value) != count:
        raise ValueError(f"{name} needs one value per block ({count}), got {list(value)}")
    return list(value)


def _halve(size: tuple[int, int]) -> tuple[int, int]:
    """Spatial size after a stride-2, padding-1, 3x3 downsampling convolution."""
    return ((size[0] + 1) // 2, (size[1] + 1) // 2)


class PuppetMasterUNet(ModelMixin, AttentionMixin, ConfigMixin):
    """Stable Video Diffusion's spatio-temporal UNet with Puppet-Master's drag conditioning.

    Accepts the official constructor arguments. `num_frames`, `sample_size`,
    `addition_time_embed_dim`, `projection_class_embeddings_input_dim`, `cross_attn_with_ref` and
    `double_batch` are accepted for compatibility and unused: the frame count and latent size come
    from the input, and the official model has no `add_embedding`. `num_drags` defaults to 5, the
    value of the released checkpoint (the official class default is 10).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: Sequence[str] = (
            DRAG_DOWN_BLOCK,
            DRAG_DOWN_BLOCK,
            DRAG_DOWN_BLOCK,
            "DownBlockSpatioTemporal",
        ),
        up_block_types: Sequence[str] = ("UpBlockSpatioTemporal", DRAG_UP_BLOCK, DRAG_UP_BLOCK, DRAG_UP_BLOCK),
        block_out_channels: Sequence[int] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | Sequence[int] = 2,
        cross_attention_dim: int = 1024,
        transformer_layers_per_block: int | Sequence[int] = 1,
        num_attention_heads: int | Sequence[int] = (5, 10, 20, 20),
        num_frames: int = 25,
        num_drags: int = 5,
        cond_dropout_prob: float = 0.1,
        pos_embed_dim: int = 64,
        drag_token_cross_attn: bool = True,
        use_modulate: bool = True,
        drag_embedder_out_channels: Sequence[int] = (256, 320, 320),
        cross_attn_with_ref: bool = True,
        double_batch: bool = False,
    ) -> None:
        super().__init__()
        if double_batch:
            warnings.warn(
                "double_batch=True is ignored: the official branch only prepends a reference half whose "
                "output is discarded, so results are the same without it",
                stacklevel=2,
            )
        blocks = len(down_block_types)
        if len(up_block_types) != blocks or len(block_out_channels) != blocks:
            raise ValueError("down_block_types, up_block_types and block_out_channels must have the same length")
        if not isinstance(cross_attention_dim, int):
            raise ValueError("cross_attention_dim must be one int: drag tokens share the CLIP token's width")
        heads = _per_block(num_attention_heads, blocks, "num_attention_heads")
        layers = _per_block(layers_per_block, blocks, "layers_per_block")
        transformer_layers = _per_block(transformer_layers_per_block, blocks, "transformer_layers_per_block")
        drag_options = DragOptions(
            num_drags=num_drags,
            drag_embedder_out_channels=tuple(drag_embedder_out_channels),
            pos_embed_dim=pos_embed_dim,
            use_modulate=use_modulate,
            drag_token_cross_attn=drag_token_cross_attn,
        )

        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        time_embed_dim = block_out_channels[0] * 4
        self.time_proj = Timesteps(block_out_channels[0], True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)

        self.down_blocks = nn.ModuleList()
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel, output_channel = output_channel, block_out_channels[i]
            common = dict(
                num_layers=layers[i],
                transformer_layers_per_block=transformer_layers[i],
                in_channels=input_channel,
                out_channels=output_channel,
                temb_channels=time_embed_dim,
                add_downsample=i < blocks - 1,
                cross_attention_dim=cross_attention_dim,
                num_attention_heads=heads[i],
            )
            if block_type == DRAG_DOWN_BLOCK:
                self.down_blocks.append(DragDownBlock(drag_options=drag_options, **common))
            else:
                self.down_blocks.append(get_down_block(block_type, resnet_eps=1e-5, resnet_act_fn="silu", **common))

        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1],
            temb_channels=time_embed_dim,
            transformer_layers_per_block=transformer_layers[-1],
            cross_attention_dim=cross_attention_dim,
            num_attention_heads=heads[-1],
        )

        self.up_blocks = nn.ModuleList()
        reversed_channels = list(reversed(block_out_channels))
        output_channel = reversed_channels[0]
        for i, block_type in enumerate(up_block_types):
            prev_output_channel, output_channel = output_channel, reversed_channels[i]
            common = dict(
                num_layers=list(reversed(layers))[i] + 1,
                transformer_layers_per_block=list(reversed(transformer_layers))[i],
                in_channels=reversed_channels[min(i + 1, blocks - 1)],
                out_channels=output_channel,
                prev_output_channel=prev_output_channel,
                temb_channels=time_embed_dim,
                add_upsample=i < blocks - 1,
                resolution_idx=i,
                cross_attention_dim=cross_attention_dim,
                num_attention_heads=list(reversed(heads))[i],
            )
            if block_type == DRAG_UP_BLOCK:
                self.up_blocks.append(DragUpBlock(drag_options=drag_options, **common))
            else:
                self.up_blocks.append(get_up_block(block_type, resnet_eps=1e-5, resnet_act_fn="silu", **common))

        self.conv_norm_out = nn.GroupNorm(num_channels=block_out_channels[0], num_groups=32, eps=1e-5)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(block_out_channels[0], out_channels, kernel_size=3, padding=1)

        chunk_feed_forwards(self)
        self._all_to_first = AllToFirstAttnProcessor()
        self.use_all_to_first_attention()
        self._spatial_cross = ShortContextAttnProcessor()
        self._temporal_cross = ShortContextAttnProcessor(temporal=True)
        self.use_short_context_attention()

    def spatial_self_attentions(self) -> dict[str, nn.Module]:
        """The spatial self-attention (attn1) layers that use all-to-first attention (16 in the real model)."""
        return {
            f"{name}.transformer_blocks.{i}.attn1": block.attn1
            for name, module in self.named_modules()
            if isinstance(module, TransformerSpatioTemporalModel)
            for i, block in enumerate(module.transformer_blocks)
        }

    def use_all_to_first_attention(self) -> None:
        """Install the all-to-first processor on every spatial attn1 (the official app and training setup)."""
        for attention in self.spatial_self_attentions().values():
            attention.set_processor(self._all_to_first)

    def cross_attentions(self) -> dict[str, nn.Module]:
        """Every cross-attention (attn2) layer, spatial and temporal, by module name."""
        return {name: module.attn2 for name, module in self.named_modules() if getattr(module, "attn2", None)}

    def use_short_context_attention(self, enabled: bool = True) -> None:
        """Cross-attention over the 1 + K context tokens with folded projections (default), or diffusers' standard
        processor (`enabled=False`, as the official code; the benchmark's baseline)."""
        for name, attention in self.cross_attentions().items():
            temporal = ".temporal_transformer_blocks." in name
            folded = self._temporal_cross if temporal else self._spatial_cross
            attention.set_processor(folded if enabled else AttnProcessor2_0())

    def fold_cross_attention_over(self, readable: Callable[[nn.Module], bool]) -> None:
        """Which linear layers the folded cross-attention may read weights from directly (default: plain
        `nn.Linear`); a host with cast-on-use layers passes a test for "holds its weights uncast, unpatched"."""
        for processor in (self._spatial_cross, self._temporal_cross):
            processor.readable = readable

    def use_row_chunked_feed_forward(self, enabled: bool = True) -> None:
        """Run the feed-forward layers over row chunks of bounded size (default), or all rows at once as the
        official code (`enabled=False`; the benchmark's baseline). Same values either way."""
        for module in self.modules():
            if isinstance(module, RowChunkedFeedForward):
                module.chunk_bytes = CHUNK_BYTES if enabled else None

    def use_channels_last(self, enabled: bool = True) -> None:
        """Store every 2-D convolution weight channels-last (NHWC, oneDNN's and cuDNN's native layout), so the
        feature maps flowing between them stay channels-last instead of being reordered at every convolution."""
        layout = torch.channels_last if enabled else torch.contiguous_format
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(memory_format=layout)

    def drag_blocks(self) -> dict[str, DragDownBlock | DragUpBlock]:
        """Drag-conditioned blocks by state-dict prefix, e.g. 'down_blocks.0'."""
        blocks = {f"down_blocks.{i}": b for i, b in enumerate(self.down_blocks)}
        blocks.update({f"up_blocks.{i}": b for i, b in enumerate(self.up_blocks)})
        return {name: b for name, b in blocks.items() if isinstance(b, DragDownBlock | DragUpBlock)}

    def block_resolutions(self, latent_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
        """Feature-map size seen by each down and up block for a latent of `latent_size`."""
        sizes = [tuple(latent_size)]
        for _ in range(len(self.down_blocks) - 1):
            sizes.append(_halve(sizes[-1]))
        resolutions = {f"down_blocks.{i}": size for i, size in enumerate(sizes)}
        resolutions.update({f"up_blocks.{i}": size for i, size in enumerate(reversed(sizes))})
        return resolutions

    def drop_drags(self, drags: torch.Tensor, force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Classifier-free-guidance dropout of the drags only (training, or `force_drop_ids == 1`)."""
        if force_drop_ids is not None:
            drop = force_drop_ids.to(drags.device) == 1
        elif self.training and self.config.cond_dropout_prob > 0:
            drop = torch.rand(drags.shape[0], device=drags.device) < self.config.cond_dropout_prob
        else:
            return drags
        return drags * (~drop).to(drags.dtype).view(-1, 1, 1, 1)

    def prepare_drags(
        self,
        drags: torch.Tensor,
        latent_size: tuple[int, int],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> DragContext:
        """Compute all drag-only work once: drag maps, the 15 DragEmbedding CNNs, token masks, positions.

        Args:
            drags: (B, F, K, 4) normalised (x_start, y_start, x_current, y_current); all-zero = no drag.
            latent_size: (height, width) of the latent the UNet will denoise.
            dtype, device: of the sample the context serves; default the parameters' (give them when
                weights are stored in another dtype or place than they compute in, e.g. fp8 or offloaded).
        """
        num_drags = self.config.num_drags
        if drags.ndim != 4 or drags.shape[-2:] != (num_drags, 4):
            raise ValueError(
                f"drags must have shape (batch, frames, {num_drags}, 4) (x_start, y_start, x_current, y_current); "
                f"got {tuple(drags.shape)}. Pad unused slots with zeros"
            )
        # once per generation, before any drag work; fake tensors (FLOP counting) hold no values to check
        if not is_fake(drags) and not bool(torch.isfinite(drags).all()):
            raise ValueError(
                "drags contain NaN or infinite values: give finite normalised positions "
                "(x_start, y_start, x_current, y_current), all zero for an unused slot"
            )
        batch, frames = drags.shape[:2]
        parameter = next(self.parameters())
        dtype = dtype or parameter.dtype
        device = device or parameter.device
        drags = drags.to(device=device, dtype=torch.float32)
        rows = batch * frames

        points = drags.flatten(0, 1).view(rows, num_drags, 2, 2).transpose(1, 2).reshape(rows, 1, 2 * num_drags, 2)
        grid = points * 2 - 1
        keep = (drags != 0).any(dim=-1).any(dim=1).repeat_interleave(frames, dim=0)[..., None]

        resolutions = self.block_resolutions(tuple(latent_size))
        maps: dict[tuple[int, int], torch.Tensor] = {}
        positions: dict[tuple[int, int], torch.Tensor] = {}
        blocks = {}
        for name, block in self.drag_blocks().items():
            size = resolutions[name]
            if size not in maps:
                maps[size] = encode_drags(drags, *size).flatten(0, 1).to(dtype)
                positions[size] = self._position_features(grid, size, device).to(dtype)
            blocks[name] = BlockDrags(
                modulations=block.modulations(maps[size]),
                grid=grid,
                keep=keep,
                positions=positions[size],
            )
        return DragContext(batch_size=batch, num_frames=frames, latent_size=tuple(latent_size), blocks=blocks)

    def _position_features(self, grid: torch.Tensor, size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """(BF, K, 2 * pos_embed_dim): the sin-cos table bilinearly sampled at start and current points."""
        rows, slots = grid.shape[0], grid.shape[2] // 2
        table = sincos_position_table(*size, dim=self.config.pos_embed_dim, device=device)
        table = table[None].expand(rows, *table.shape)
        sampled = F.grid_sample(table, grid, mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled[:, :, 0].transpose(1, 2)
        return torch.cat([sampled[:, :slots], sampled[:, slots:]], dim=-1)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        image_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        drags: torch.Tensor | None = None,
        drag_context: DragContext | None = None,
        added_time_ids: torch.Tensor | None = None,
        force_drop_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the denoiser output.

        Args:
            sample: (B, F, 4, h, w) noisy latents, already scaled by c_in = 1/sqrt(sigma^2 + 1).
            timestep: c_noise = 0.25 * ln(sigma), a scalar or (B,).
            image_latents: (B, 4, h, w) unscaled VAE posterior mean of the conditioning frame.
            encoder_hidden_states: (B, 1, cross_attention_dim) CLIP image embedding.
            drags: (B, F, K, 4) drags; give either these or `drag_context`.
            drag_context: from `prepare_drags`, to reuse drag-only work across denoising steps.
            added_time_ids: ignored (the official model has no add_embedding).
            force_drop_ids: (B,) 1 where the drags are dropped (classifier-free guidance training).

        Returns:
            (B, F, out_channels, h, w) tensor.
        """
        if sample.ndim != 5:
            raise ValueError(f"sample must be (batch, frames, channels, height, width), got {tuple(sample.shape)}")
        batch, frames = sample.shape[:2]
        latent_size = tuple(sample.shape[-2:])
        if drag_context is None:
            if drags is None:
                raise ValueError("pass drags=(B, F, K, 4) or drag_context=model.prepare_drags(...)")
            drag_context = self.prepare_drags(self.drop_drags(drags, force_drop_ids), latent_size)
        elif drags is not None or force_drop_ids is not None:
            raise ValueError("drag_context already holds the drags: do not also pass drags or force_drop_ids")
        drag_context.check_matches(batch, frames, latent_size)

        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        emb = self.time_embedding(self.time_proj(timesteps.expand(batch)).to(dtype=sample.dtype))

        image = image_latents[:, None].expand(batch, frames, *image_latents.shape[1:])
        hidden = torch.cat([sample, image.to(sample.dtype)], dim=2).flatten(0, 1)
        emb = emb.repeat_interleave(frames, dim=0)
        clip_tokens = encoder_hidden_states.repeat_interleave(frames, dim=0)
        hidden = self.conv_in(hidden)
        image_only_indicator = torch.zeros(batch, frames, dtype=hidden.dtype, device=hidden.device)
        self._all_to_first.num_frames = frames
        self._temporal_cross.temporal_videos = batch

        upsampling = 2 ** (len(self.up_blocks) - 1)
        forward_upsample_size = any(side % upsampling for side in latent_size)
        residuals = (hidden,)
        for i, block in enumerate(self.down_blocks):
            if isinstance(block, DragDownBlock):
                hidden, block_residuals = block(
                    hidden, emb, clip_tokens, image_only_indicator, drag_context.blocks[f"down_blocks.{i}"]
                )
            else:
                hidden, block_residuals = block(
                    hidden_states=hidden, temb=emb, image_only_indicator=image_only_indicator
                )
            residuals += block_residuals

        hidden = self.mid_block(
            hidden_states=hidden, temb=emb, encoder_hidden_states=clip_tokens, image_only_indicator=image_only_indicator
        )

        for i, block in enumerate(self.up_blocks):
            block_residuals = residuals[-len(block.resnets) :]
            residuals = residuals[: -len(block.resnets)]
            is_final_block = i == len(self.up_blocks) - 1
            upsample_size = residuals[-1].shape[2:] if forward_upsample_size and not is_final_block else None
            if isinstance(block, DragUpBlock):
                hidden = block(
                    hidden,
                    block_residuals,
                    emb,
                    clip_tokens,
                    image_only_indicator,
                    drag_context.blocks[f"up_blocks.{i}"],
                    upsample_size=upsample_size,
                )
            else:
                hidden = block(
                    hidden_states=hidden,
                    res_hidden_states_tuple=block_residuals,
                    temb=emb,
                    image_only_indicator=image_only_indicator,
                    upsample_size=upsample_size,
                )

        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return hidden.reshape(batch, frames, *hidden.shape[1:])
