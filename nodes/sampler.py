"""Puppet-Master Sampler: the one-node preset of the official settings, built from the native pieces
(Puppet-Master Conditioning's values, ComfyUI's Euler + Karras sampling with per-frame guidance, the VAE)."""

from __future__ import annotations

import torch

from puppet_master.encoders import SVDEncoders
from puppet_master.sampler_settings import OFFICIAL_SETTINGS, SamplerSettings
from puppet_master.sampling import require_finite

from .checks import widget_problem
from .comfy_encoders import LATENT_SCALE
from .conditioning import (
    CHECKPOINT_TOOLTIP,
    NEGATIVE_TOOLTIP,
    NEGATIVES,
    drag_conditioning,
    model_inputs,
    resolve_encoders,
)
from .native_sampling import sample_official
from .types import DragSet
from .v3 import PM_DRAGS, PM_SVD, io, pack_schema


class PuppetMasterSampler(io.ComfyNode):
    """Generates the video frames of the (cropped) image with the drags, as the official sampler does."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return pack_schema(
            node_id="PuppetMasterSampler",
            display_name="Puppet-Master Sampler",
            description=(
                "The official settings in one node: Puppet-Master Conditioning + KSampler (euler, karras) with "
                "per-frame guidance min_cfg -> cfg + VAE decode. Connect Puppet-Master SVD Encoders, or CLIP_VISION + "
                "VAE from ImageOnlyCheckpointLoader(svd.safetensors)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The MODEL from Puppet-Master Loader (patches such as LoRA apply)"),
                io.Image.Input("image", tooltip="The image to animate (Prepare Image's crop, or padded to a square)"),
                PM_DRAGS.Input("drags", tooltip="The drags, from Drags or Prepare Image"),
                io.Int.Input(
                    "seed",
                    default=OFFICIAL_SETTINGS.seed,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Noise seed: same seed, image and drags give the same video",
                ),
                io.Int.Input(
                    "steps", default=OFFICIAL_SETTINGS.steps, min=1, max=200, tooltip="Denoising steps (official 50)"
                ),
                io.Float.Input(
                    "cfg",
                    default=OFFICIAL_SETTINGS.max_guidance,
                    min=1.0,
                    max=20.0,
                    step=0.1,
                    tooltip="Guidance of the last frame",
                ),
                io.Float.Input(
                    "min_cfg",
                    default=OFFICIAL_SETTINGS.min_guidance,
                    min=0.0,
                    max=20.0,
                    step=0.1,
                    tooltip="Guidance of the first frame",
                    advanced=True,
                ),
                io.Int.Input(
                    "frames", default=14, min=2, max=64, tooltip="Must equal the Drags node's frames (the video length)"
                ),
                io.Int.Input(
                    "decode_chunk_size",
                    default=OFFICIAL_SETTINGS.decode_chunk_size,
                    min=1,
                    max=64,
                    tooltip="Frames decoded at once: lower = less memory",
                    advanced=True,
                ),
                io.Combo.Input(
                    "negative",
                    options=list(NEGATIVES),
                    default=OFFICIAL_SETTINGS.negative,
                    tooltip=NEGATIVE_TOOLTIP,
                    advanced=True,
                ),
                PM_SVD.Input(
                    "encoders", optional=True, tooltip="From Puppet-Master SVD Encoders (or connect clip_vision + vae)"
                ),
                io.ClipVision.Input("clip_vision", optional=True, tooltip=CHECKPOINT_TOOLTIP),
                io.Vae.Input("vae", optional=True, tooltip=CHECKPOINT_TOOLTIP),
            ],
            outputs=[
                io.Image.Output(
                    "frames", tooltip="The generated frames (an IMAGE batch), for Paste Back or a video saver."
                )
            ],
        )

    @classmethod
    def validate_inputs(cls, cfg: float | None = None, min_cfg: float | None = None) -> bool | str:
        return widget_problem(cls, cfg=cfg, min_cfg=min_cfg) or True

    @classmethod
    def execute(
        cls,
        model: object,
        image: torch.Tensor,
        drags: DragSet,
        seed: int,
        steps: int,
        cfg: float,
        min_cfg: float,
        frames: int,
        decode_chunk_size: int,
        negative: str,
        encoders: SVDEncoders | None = None,
        clip_vision: object | None = None,
        vae: object | None = None,
    ) -> io.NodeOutput:
        settings = SamplerSettings(
            steps=steps, min_guidance=min_cfg, max_guidance=cfg, seed=seed, negative=negative,
            decode_chunk_size=decode_chunk_size,
        )  # fmt: skip
        encoders = resolve_encoders(encoders, clip_vision, vae)
        if frames != drags.frames:
            raise ValueError(
                f"frames is {frames} here but {drags.frames} on the Puppet-Master Drags node: the Drags node's frames "
                "is the video length; set this one to the same value"
            )
        positive, unconditional, latent = drag_conditioning(encoders, model_inputs(image, drags), settings.negative)
        samples = sample_official(model, positive, unconditional, latent, settings)
        video = encoders.vae.decode(samples.float() * LATENT_SCALE, settings.decode_chunk_size)
        return io.NodeOutput(require_finite(video, "decoded frames (from the VAE)").permute(0, 2, 3, 1).cpu())
