"""Feed-forward layers over row chunks: same values and parameter names as diffusers' FeedForward."""

import torch
from diffusers.models.attention import FeedForward

from puppet_master.diagnostics.selfcheck import tiny_unet_config
from puppet_master.model import PuppetMasterUNet
from puppet_master.model.feed_forward import CHUNK_BYTES, RowChunkedFeedForward


@torch.no_grad()
def test_chunks_give_the_unchunked_values_with_bounded_buffers():
    torch.manual_seed(0)
    standard = FeedForward(64, activation_fn="geglu").eval()
    chunked = RowChunkedFeedForward(standard)
    per_chunk = CHUNK_BYTES // (standard.net[0].proj.out_features * 4)
    hidden = torch.randn(3, per_chunk + 100, 64)  # 3 x (per_chunk + 100) rows: four chunks
    projections = []
    standard.net[0].register_forward_hook(lambda _, __, output: projections.append(output.shape))
    expected = standard(hidden)
    projections.clear()
    actual = chunked(hidden)
    assert actual.shape == expected.shape == (3, per_chunk + 100, 64)
    assert (actual - expected).abs().max().item() < 1e-6
    assert len(projections) == 4
    assert max(shape[0] for shape in projections) * standard.net[0].proj.out_features * 4 <= CHUNK_BYTES


@torch.no_grad()
def test_small_inputs_run_in_one_piece_keeping_their_shape():
    chunked = RowChunkedFeedForward(FeedForward(16, activation_fn="geglu").eval())
    assert chunked(torch.randn(2, 5, 16)).shape == (2, 5, 16)


def test_every_feed_forward_of_the_unet_is_chunked_under_the_same_parameter_names():
    model = PuppetMasterUNet(**tiny_unet_config())
    assert not any(isinstance(m, FeedForward) for m in model.modules())
    chunked = [name for name, m in model.named_modules() if isinstance(m, RowChunkedFeedForward)]
    assert len(chunked) == 3 * len(model.spatial_self_attentions())  # ff, and the temporal block's ff_in and ff
    assert all(f"{name}.net.0.proj.weight" in model.state_dict() for name in chunked)


@torch.no_grad()
def test_the_official_whole_layer_behaviour_can_be_chosen():
    model = PuppetMasterUNet(**tiny_unet_config())
    model.use_row_chunked_feed_forward(False)
    assert {m.chunk_bytes for m in model.modules() if isinstance(m, RowChunkedFeedForward)} == {None}
    layer = next(m for m in model.modules() if isinstance(m, RowChunkedFeedForward))
    width = layer.net[0].proj.in_features
    rows = CHUNK_BYTES // (layer.net[0].proj.out_features * 4) + 1
    projections = []
    layer.net[0].register_forward_hook(lambda *_: projections.append(1))
    layer(torch.randn(rows, width))
    assert len(projections) == 1
    model.use_row_chunked_feed_forward()
    layer(torch.randn(rows, width))
    assert len(projections) == 3
