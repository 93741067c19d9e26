"""All-to-first spatial self-attention: every frame's queries attend to frame 0's keys and values."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from torch import nn


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
        rows, tokens, channels = hidden_states.shape
        videos = rows // self.num_frames
        frames = hidden_states.view(videos, self.num_frames, tokens, channels)
        out = multi_head_attention(attn, frames.flatten(1, 2), frames[:, 0])
        out = out.reshape(rows, tokens, -1)
        return attn.to_out[1](out)


def multi_head_attention(attn: Attention, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """`attn`'s projections and heads without its output dropout: (G, N, C) query rows attend to (G, M, C)
    context rows of the same group -> (G, N, C_out)."""

    def heads(projected: torch.Tensor) -> torch.Tensor:
        return projected.unflatten(-1, (attn.heads, -1)).transpose(1, 2)

    out = F.scaled_dot_product_attention(
        heads(attn.to_q(queries)), heads(attn.to_k(context)), heads(attn.to_v(context))
    )
    return attn.to_out[0](out.transpose(1, 2).flatten(2))


def is_plain_linear(layer: nn.Module) -> bool:
    """True for a torch.nn.Linear whose weight can be read directly (not a host's cast-on-use subclass)."""
    return type(layer) is nn.Linear


class ShortContextAttnProcessor:
    """Cross-attention (attn2) over a handful of context tokens, with the projections folded into the context.

    Each context holds T tokens (1 CLIP token, plus K drag tokens in the drag blocks), far fewer than
    the query tokens N. Per head h, softmax(X Wq_h K_h^T / sqrt(d)) V_h Wo_h^T is computed as
    softmax(X A_h) M_h with A_h = Wq_h K_h^T / sqrt(d) (C x T) and M_h = V_h Wo_h^T (T x C), both built
    from the context alone, so the two C x C projections of every query token become two C x (heads * T)
    products. With a single context token the softmax is 1 and the output is the projected value, the
    same for every query. Same result as standard attention up to float rounding.

    `rows_per_context` says how many consecutive input rows share one context row-block: 1 for the
    spatial blocks (one context per frame); for the temporal blocks the owning model sets
    `temporal_videos`, and the (videos * h * w) rows of one video share the first frame's context.
    Folding reads the layers' weights directly, so it needs layers that compute with their stored weights as
    they are: `readable` says which (default: plain `nn.Linear`); others (a host's cast-on-use or patched layers)
    take the unfolded path. A host whose layers are plain when they hold their weights uncast sets its own
    (ComfyUI: nodes/native_model.py).
    """

    def __init__(self, temporal: bool = False) -> None:
        self.temporal = temporal
        self.temporal_videos: int | None = None
        self.readable: Callable[[nn.Module], bool] = is_plain_linear

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is None or attention_mask is not None:
            raise ValueError("ShortContextAttnProcessor is for cross-attention without a mask")
        rows, tokens, channels = hidden_states.shape
        groups = rows
        if self.temporal:
            if self.temporal_videos is None:
                raise RuntimeError("ShortContextAttnProcessor.temporal_videos is unset: call it through the UNet")
            groups = self.temporal_videos
        # (groups, T, D): one context per group of consecutive rows.
        context = encoder_hidden_states.view(groups, rows // groups, *encoder_hidden_states.shape[1:])[:, 0]
        queries = hidden_states.reshape(groups, (rows // groups) * tokens, channels)
        context_tokens = context.shape[1]
        if context_tokens == 1:
            out = attn.to_out[0](attn.to_v(context))
        elif self._foldable(attn, self.readable) and context_tokens * 2 < queries.shape[1]:
            out = self._folded(attn, queries, context)
        else:
            out = multi_head_attention(attn, queries, context)
        out = attn.to_out[1](out)
        return out.expand(groups, queries.shape[1], out.shape[-1]).reshape(rows, tokens, -1)

    @staticmethod
    def _foldable(attn: Attention, readable: Callable[[nn.Module], bool]) -> bool:
        layers = (attn.to_q, attn.to_k, attn.to_v, attn.to_out[0])
        return all(readable(layer) for layer in layers) and attn.to_q.bias is None

    @staticmethod
    def _folded(attn: Attention, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        groups, context_tokens = context.shape[:2]
        heads = attn.heads
        key = attn.to_k(context).view(groups, context_tokens, heads, -1)
        value = attn.to_v(context).view(groups, context_tokens, heads, -1)
        head_dim = key.shape[-1]
        query_weight = attn.to_q.weight.view(heads, head_dim, -1) * head_dim**-0.5
        out_weight = attn.to_out[0].weight.view(-1, heads, head_dim)
        # (groups, C, heads * T) and (groups, heads * T, C)
        scores_from_queries = torch.einsum("hdc,gthd->gcht", query_weight, key).flatten(2)
        values_to_output = torch.einsum("gthd,ohd->ghto", value, out_weight).flatten(1, 2)
        scores = torch.bmm(queries, scores_from_queries).unflatten(-1, (heads, context_tokens)).softmax(-1)
        out = torch.bmm(scores.flatten(2), values_to_output)
        bias = attn.to_out[0].bias
        return out if bias is None else out + bias
