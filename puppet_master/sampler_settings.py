"""The sampler settings of one video (steps, guidance ramp, seed, negative, decode chunk), checked once.

Every caller of the library's generation path (pipeline, CLI, training samples, evaluation, benchmark, the
Sampler node) builds one `SamplerSettings`; the layers below take it whole. Importing this module does not
import torch, so the CLI can check its options before anything heavy is loaded.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal, get_args

from .values import finite_number, short

Negative = Literal["official", "drags_only"]
NEGATIVES: tuple[str, ...] = get_args(Negative)
MAX_SEED = 2**64 - 1
OFFICIAL_STEPS = 50
OFFICIAL_DECODE_CHUNK = 14


def check_count(name: str, value: int, official: int) -> None:
    """`value` a whole number of at least 1, or a ValueError naming `name` and its official value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1 (official {official}), got {short(value)}")


GUIDANCE_NAMES = ("min_cfg (min_guidance)", "cfg (max_guidance)")
"""How messages name the two scales: the node's widgets and the library's arguments."""


def check_guidance(min_guidance: float, max_guidance: float, names: tuple[str, str] = GUIDANCE_NAMES) -> None:
    """Both guidance scales finite numbers (NaN would silently turn guidance off, inf gives a black video); a
    bad one raises ValueError calling it by `names` (min's, max's: the CLI passes its flags)."""
    for name, value in ((names[1], max_guidance), (names[0], min_guidance)):
        if finite_number(value) is None:
            raise ValueError(f"{name} must be a finite number (official 5.0 and 1.0), got {short(value)}")
        if not -100 <= value <= 100:
            raise ValueError(f"{name} must be between -100 and 100 (official 5.0 and 1.0), got {short(value)}")


def check_seed(seed: int) -> None:
    """A seed torch's generator accepts: a whole number from 0 to 2**64 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED} (2**64 - 1), got {short(seed)}")


def check_negative(negative: str) -> None:
    """One of the unconditional passes the sampler knows."""
    if negative not in NEGATIVES:
        raise ValueError(f"negative must be one of {', '.join(NEGATIVES)}, got {short(negative)}")


@dataclass(frozen=True)
class SamplerSettings:
    """How one video is sampled and decoded; the defaults are the official demo's.

    Attributes:
        steps: Euler steps on SVD's Karras schedule.
        min_guidance: classifier-free guidance of the first frame (the ramp's start; ComfyUI's min_cfg).
        max_guidance: guidance of the last frame (ComfyUI's cfg); no guidance batch when it is <= 1.
        seed: the official demo's noise for this seed (`torch.manual_seed(seed)` then `torch.randn` on CPU).
        negative: 'official' zeroes image latent, CLIP embedding and drags in the unconditional half (the
            released demo); 'drags_only' zeroes only the drags (the training-time dropout).
        decode_chunk_size: frames decoded per VAE call; lower it to save memory.

    Bad values raise ValueError naming the field, when the settings are made.
    """

    steps: int = OFFICIAL_STEPS
    min_guidance: float = 1.0
    max_guidance: float = 5.0
    seed: int = 0
    negative: Negative = "official"
    decode_chunk_size: int = OFFICIAL_DECODE_CHUNK

    def __post_init__(self) -> None:
        check_count("steps", self.steps, OFFICIAL_STEPS)
        check_guidance(self.min_guidance, self.max_guidance)
        check_seed(self.seed)
        check_negative(self.negative)
        check_count("decode_chunk_size", self.decode_chunk_size, OFFICIAL_DECODE_CHUNK)


OFFICIAL_SETTINGS = SamplerSettings()
