"""The UNet in the frames-as-batch layout of ComfyUI / k-diffusion video samplers, with a drag-context cache.

A video sampler hands the model rows = videos x frames: x (rows, 8, h, w) = noisy latent and image latent
concatenated on channels, one timestep, CLIP token and drag row per frame. `FrameBatchUNet.forward` folds
them back into videos and runs the one `PuppetMasterUNet` implementation. The drag-only work (drag maps,
DragEmbedding CNNs, token masks, positions) is looked up in a `DragContextCache`: a sampler rebuilds its
conditioning tensors at every step, so the cache is keyed on the identity of the conditioning entries
(ComfyUI's per-generation cond uuids) when the caller has one, which needs no device sync, and otherwise
on the drag values themselves, compared once per call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import torch

from .context import DragContext
from .unet import PuppetMasterUNet


@dataclass(frozen=True)
class _Entry:
    drags: torch.Tensor
    context: DragContext


class DragContextCache:
    """The drag contexts of the current generation (a cond/uncond batch, or its halves when split)."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every context (call at generation boundaries, so nothing outlives a generation)."""
        self._entries.clear()

    @torch.compiler.disable
    def context(
        self,
        unet: PuppetMasterUNet,
        drags: torch.Tensor,
        latent_size: tuple[int, int],
        *,
        identity: Hashable | None,
        dtype: torch.dtype,
        device: torch.device,
    ) -> DragContext:
        """The drag context of (B, F, K, 4) `drags`, computed at most once per identity (or per value).

        Args:
            identity: what makes these drags the same across steps without reading them (ComfyUI: the
                cond uuids of the batch). None compares the values with the cached ones instead.
        """
        layout = (tuple(drags.shape), tuple(latent_size), dtype, str(device))
        if identity is not None:
            key = (identity, layout)
            entry = self._entries.get(key)
        else:
            key, entry = None, None
            for cached_key, cached in self._entries.items():
                if cached_key[1] == layout and torch.equal(cached.drags, drags):
                    key, entry = cached_key, cached
                    break
        if entry is None:
            context = unet.prepare_drags(drags, latent_size, dtype=dtype, device=device)
            entry = _Entry(drags=drags.detach().clone(), context=context)
            key = key if key is not None else (("values", len(self._entries), id(entry)), layout)
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry.context


class FrameBatchUNet(PuppetMasterUNet):
    """`PuppetMasterUNet` called the way ComfyUI calls a video diffusion model (frames are the batch).

    Same modules and state-dict keys as `PuppetMasterUNet`; only the calling convention differs.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drag_cache = DragContextCache()

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        drags: torch.Tensor | None = None,
        num_video_frames: int | None = None,
        transformer_options: dict | None = None,
        **_unused,
    ) -> torch.Tensor:
        """Predict the denoiser output for rows = videos x frames.

        Args:
            x: (rows, 8, h, w) the c_in-scaled noisy latent and the image latent, concatenated on channels.
            timesteps: (rows,) c_noise = 0.25 ln(sigma).
            context: (rows, 1, D) CLIP image embedding per frame (the first frame's is used per video).
            drags: (rows, K, 4) drags per frame, all-zero rows for no drag (the unconditional half).
            num_video_frames: F; rows must be a multiple of it.
            transformer_options: ComfyUI's; its "uuids" (one per video of the batch) key the drag cache.

        Returns:
            (rows, 4, h, w) model output.
        """
        rows, channels, height, width = x.shape
        frames = int(num_video_frames or rows)
        if rows % frames:
            raise ValueError(f"the batch has {rows} frames, not a multiple of num_video_frames={frames}")
        if drags is None or context is None:
            raise ValueError(
                "Puppet-Master needs drags and a CLIP image embedding: condition it with the Puppet-Master "
                "Conditioning node"
            )
        if drags.shape[0] != rows:
            raise ValueError(f"got drags for {drags.shape[0]} frames but the batch has {rows}")
        if context.shape[-1] != self.config.cross_attention_dim:
            raise ValueError(
                f"the CLIP image embedding has {context.shape[-1]} values but this Puppet-Master model takes "
                f"{self.config.cross_attention_dim}: connect SVD's own image encoder (the CLIP_VISION of "
                "ImageOnlyCheckpointLoader with svd.safetensors, or the SVD img2vid folder), not another CLIP"
            )
        videos = rows // frames
        latent_channels = channels // 2
        per_video = x.reshape(videos, frames, channels, height, width)
        uuids = (transformer_options or {}).get("uuids")
        identity = tuple(uuids) if uuids else None
        drag_context = self.drag_cache.context(
            self,
            drags.reshape(videos, frames, *drags.shape[1:]),
            (height, width),
            identity=identity,
            dtype=x.dtype,
            device=x.device,
        )
        output = super().forward(
            per_video[:, :, :latent_channels],
            timesteps.reshape(videos, frames)[:, 0],
            image_latents=per_video[:, 0, latent_channels:],
            encoder_hidden_states=context.reshape(videos, frames, *context.shape[1:])[:, 0],
            drag_context=drag_context,
        )
        return output.flatten(0, 1)
