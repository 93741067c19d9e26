"""Image + drags -> video: crop, encode, sample, decode, with every piece swappable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .drags import DragDocument, parse_drag_document
from .encoders import SVDEncoders, VideoAutoencoder, load_svd_encoders
from .image import CropTransform, object_crop, paste_back, paste_back_frames
from .loading import load_unet
from .model import PuppetMasterUNet
from .sampler_settings import OFFICIAL_SETTINGS, Negative, SamplerSettings
from .sampling import StepCallback, initial_noise, require_finite, sample
from .video import to_pil

LATENT_FACTOR = 8


def default_device() -> torch.device:
    """cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def sample_video(
    unet: PuppetMasterUNet,
    vae: VideoAutoencoder,
    image_latent: torch.Tensor,
    image_embedding: torch.Tensor,
    drags: torch.Tensor,
    settings: SamplerSettings = OFFICIAL_SETTINGS,
    *,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Sample-then-decode, the one place the library does it (pipeline, training samples, evaluation):
    the official noise for `settings.seed`, the official sampler, the decode in `settings.decode_chunk_size`
    chunks.

    Args:
        image_latent: (1, 4, h, w) unscaled VAE posterior mean of the conditioning frame.
        image_embedding: (1, 1, D) CLIP image embedding.
        drags: (F, K, 4) model drags.
        callback: see `puppet_master.sampling.sample`.

    Returns:
        (F, 8h, 8w, 3) frames in [0, 1] on the CPU.
    """
    frames, latent_size = drags.shape[0], tuple(image_latent.shape[-2:])
    noise = initial_noise(settings.seed, frames, latent_size)
    latents = sample(unet, noise, image_latent, image_embedding, drags[None], settings, callback=callback)
    decoded = vae.decode(latents[0], settings.decode_chunk_size)
    return require_finite(decoded, "decoded frames (from the VAE)").permute(0, 2, 3, 1).cpu()


@torch.no_grad()
def generate_frames(
    unet: PuppetMasterUNet | Callable[[], PuppetMasterUNet],
    encoders: SVDEncoders,
    pixels: torch.Tensor,
    drags: torch.Tensor,
    settings: SamplerSettings = OFFICIAL_SETTINGS,
    *,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """The model's part of a generation: an already cropped (1, 3, S, S) frame in [0, 1] and (F, K, 4)
    drags -> (F, S, S, 3) frames in [0, 1] (encode, then `sample_video`).

    `unet` may be a function that returns the UNet ready to run: it is called once the encoders are done,
    so a memory manager that made room for them puts the UNet back before sampling."""
    size = pixels.shape[-1]
    if pixels.shape[-2] != size or size % LATENT_FACTOR:
        raise ValueError(
            f"the frame must be square, its side a multiple of {LATENT_FACTOR}; got {tuple(pixels.shape[-2:])}"
        )
    image_latent = encoders.vae.encode(pixels)
    image_embedding = encoders.image_encoder.embed(pixels)
    unet = unet if isinstance(unet, torch.nn.Module) else unet()
    return sample_video(unet, encoders.vae, image_latent, image_embedding, drags, settings, callback=callback)


@dataclass(frozen=True)
class GenerationResult:
    """Frames of the crop the model saw, and what is needed to map them back."""

    frames: torch.Tensor
    """(F, size, size, 3) float32 in [0, 1]."""
    crop: CropTransform
    tracks: np.ndarray
    """(K, F, 2) drag positions in crop pixels."""
    drags: torch.Tensor
    """(F, 5, 4) the model's drag tensor."""

    def images(self) -> list[Image.Image]:
        """The frames as PIL images."""
        return to_pil(self.frames)

    def on_original(self, original: Image.Image, mask: Image.Image | np.ndarray | None = None) -> torch.Tensor:
        """(F, H, W, 3) frames pasted back onto the original image's canvas."""
        return paste_back(self.frames, self.crop, original, mask)

    def images_on_original(
        self, original: Image.Image, mask: Image.Image | np.ndarray | None = None
    ) -> Iterator[Image.Image]:
        """The pasted-back frames one RGB image at a time (memory: one frame at the original size)."""
        for frame in paste_back_frames(self.frames, self.crop, original, mask):
            yield Image.fromarray(np.rint(np.multiply(frame, 255, out=frame), out=frame).astype(np.uint8))


@dataclass(frozen=True)
class CroppedInputs:
    """What the model is given, and where it came from."""

    pixels: torch.Tensor
    """(1, 3, size, size) float32 in [0, 1]: the crop."""
    crop: CropTransform
    tracks: np.ndarray
    """(K, F, 2) drag positions in crop pixels."""
    drags: torch.Tensor
    """(F, 5, 4) the model's drag tensor."""


def crop_inputs(
    image: Image.Image,
    drags: DragDocument | str | dict | list,
    mask: Image.Image | np.ndarray | None = None,
    *,
    frames: int = 14,
    crop_scale: float = 2.2,
    size: int = 256,
) -> CroppedInputs:
    """The image cropped (`object_crop`) and the drags remapped into the crop, as `PuppetMasterPipeline` feeds
    the model; the arguments are the pipeline's."""
    if size % LATENT_FACTOR:
        raise ValueError(f"size must be a multiple of {LATENT_FACTOR}, got {size}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if isinstance(drags, DragDocument):
        document = drags.fitted_to(*image.size)
    else:
        document = parse_drag_document(drags, image.size)
    cropped, crop = object_crop(image, mask, scale=crop_scale, size=size)
    tracks = document.tracks(frames)
    pixels = torch.from_numpy(np.asarray(cropped, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    return CroppedInputs(pixels=pixels, crop=crop, tracks=crop.to_crop(tracks), drags=crop.model_drags(tracks))


class PuppetMasterPipeline:
    """Puppet-Master generation: `pipeline(image, drags)` -> `GenerationResult`."""

    def __init__(self, unet: PuppetMasterUNet, encoders: SVDEncoders) -> None:
        self.unet = unet
        self.encoders = encoders

    @classmethod
    def from_files(
        cls,
        unet_path: str | Path,
        svd_path: str | Path,
        device: torch.device | str | None = None,
        unet_dtype: torch.dtype | None = None,
    ) -> PuppetMasterPipeline:
        """Load the UNet and the SVD encoders; on CUDA the encoders run in fp16 as in the official demo.

        `unet_dtype` defaults to fp16 on CUDA/MPS and fp32 on CPU (pass torch.float32 for the official setup).
        """
        device = torch.device(device) if device is not None else default_device()
        accelerated = device.type in ("cuda", "mps")
        unet_dtype = unet_dtype or (torch.float16 if accelerated else torch.float32)
        encoder_dtype = torch.float16 if device.type == "cuda" else torch.float32
        unet = load_unet(unet_path, dtype=unet_dtype, device=device)
        return cls(unet, load_svd_encoders(svd_path, device=device, dtype=encoder_dtype))

    @torch.no_grad()
    def __call__(
        self,
        image: Image.Image,
        drags: DragDocument | str | dict | list,
        mask: Image.Image | np.ndarray | None = None,
        *,
        frames: int = 14,
        steps: int = OFFICIAL_SETTINGS.steps,
        min_guidance: float = OFFICIAL_SETTINGS.min_guidance,
        max_guidance: float = OFFICIAL_SETTINGS.max_guidance,
        seed: int = OFFICIAL_SETTINGS.seed,
        crop_scale: float = 2.2,
        size: int = 256,
        negative: Negative = OFFICIAL_SETTINGS.negative,
        decode_chunk_size: int = OFFICIAL_SETTINGS.decode_chunk_size,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Generate a video of the dragged parts moving.

        Args:
            image: the first frame (RGB, or RGBA whose alpha marks the object).
            drags: a drag document (or its JSON text, not a file name; or KJNodes/ATI tracks) in pixels of
                `image`.
            mask: optional object mask; with a mask or alpha the object is cropped as the official demo
                does, otherwise the image is padded to a square.
            frames: video length (the released model was trained on 14).
            steps, min_guidance, max_guidance, seed, negative, decode_chunk_size: the sampler settings, see
                `puppet_master.sampler_settings.SamplerSettings` (checked before any work starts).
            crop_scale: square side relative to the object's bounding box (official 2.2).
            size: side of the generated frames in pixels, a multiple of 8 (official 256).
            callback: called after every denoising step with (step index, steps, latents); returning False
                stops the generation, which then raises `GenerationCancelled` (nothing is returned).
        """
        settings = SamplerSettings(steps, min_guidance, max_guidance, seed, negative, decode_chunk_size)
        inputs = crop_inputs(image, drags, mask, frames=frames, crop_scale=crop_scale, size=size)
        video = generate_frames(self.unet, self.encoders, inputs.pixels, inputs.drags, settings, callback=callback)
        return GenerationResult(frames=video, crop=inputs.crop, tracks=inputs.tracks, drags=inputs.drags)
