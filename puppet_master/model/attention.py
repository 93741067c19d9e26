"""All-to-first spatial self-attention: every frame's queries attend to frame 0's keys and values."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention


class AllToFirstAttnProcessor:
    """Attention processor for the spatial self-attention (attn1) layers of Puppet-Master.

    Rows of the input are laid out batch-major, row = b * num_frames + f. Keys and values are
    projected from frame 0 of each video only, and all frames' queries of that video are folded
    into one query sequence, so a single `scaled_dot_product_attention` call serves every frame
    without broadcasting keys and values. Frame 0 thus gets ordinary self-attention.

    The owning model sets `num_frames` before each forward pass (the official code hard-codes 14).
    """

    def __init__(self) -> None:
        self.num_frames: int | None = None

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("all-to-first attention is self-attention: it takes no context and no mask")
        if self.num_frames is None:
            raise RuntimeError("AllToFirstAttnProcessor.num_frames is unset: call it through PuppetMasterUNet")
        rows, tokens, _ = hidden_states.shape
        frames = self.num_frames
        videos = rows // frames
        heads = attn.heads

        query = attn.to_q(hidden_states)
        first_frames = hidden_states.view(videos, frames, tokens, -1)[:, 0]
        key = attn.to_k(first_frames)
        value = attn.to_v(first_frames)
        head_dim = key.shape[-1] // heads

        query = query.view(videos, frames * tokens, heads, head_dim).transpose(1, 2)
        key = key.view(videos, tokens, heads, head_dim).transpose(1, 2)
        value = value.view(videos, tokens, heads, head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(query, key, value)
        out = out.transpose(1, 2).reshape(rows, tokens, heads * head_dim).to(query.dtype)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)
