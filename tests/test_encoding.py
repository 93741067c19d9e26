"""Drag maps and position tables against the official encoder, edge cases and any resolution."""

import pytest
import torch

from puppet_master.encoding import encode_drags, sincos_position_table


@pytest.mark.parametrize("resolution", [32, 16, 8])
def test_drag_maps_equal_official(drag_io, resolution):
    encoded = encode_drags(drag_io["drags"], resolution, resolution)
    assert torch.equal(encoded, drag_io[f"enc_{resolution}"])


@pytest.mark.parametrize("resolution", [32, 16, 8])
def test_position_tables_equal_official(drag_io, resolution):
    table = sincos_position_table(resolution, resolution)
    assert table.shape == (64, resolution, resolution)
    flat = table.permute(1, 2, 0).reshape(resolution * resolution, 64)
    assert torch.equal(flat, drag_io[f"pos_embed_{resolution}"])


def single_drag(x_start, y_start, x_cur, y_cur, frames=2):
    drags = torch.zeros(1, frames, 5, 4)
    drags[0, :, 0] = torch.tensor([x_start, y_start, x_cur, y_cur])
    return drags


def test_odd_integer_multiple_uses_lower_cell_and_value_one():
    # x*32 = 3 (odd): round-half-to-even picks cell 2 with remainder 1.0, not floor's cell 3 with 0.
    encoded = encode_drags(single_drag(3 / 32, 0.5, 3 / 32, 0.5), 32, 32)
    assert encoded[0, 0, 0, 16, 2] == 1.0
    assert encoded[0, 0, 0, :, 3].eq(-1).all()
    # x*32 = 4 (even): cell 4, remainder 0 (same as floor).
    encoded = encode_drags(single_drag(4 / 32, 0.5, 4 / 32, 0.5), 32, 32)
    assert encoded[0, 0, 0, 16, 4] == 0.0


def test_out_of_range_values_clamp_cell_not_value():
    encoded = encode_drags(single_drag(1.05, -0.02, 1.0, 0.5), 32, 32)
    assert encoded[0, 0, 0, 0, 31].item() == pytest.approx(2.6, abs=1e-5)
    assert encoded[0, 0, 1, 0, 31].item() == pytest.approx(-0.64, abs=1e-5)
    assert encoded[0, 0, 2, 16, 31].item() == 1.0


def test_absent_frame_is_all_fill_but_final_point_read_from_last_frame():
    drags = single_drag(0.2, 0.3, 0.6, 0.7, frames=3)
    drags[0, 1, 0] = 0
    encoded = encode_drags(drags, 16, 16)
    assert encoded[0, 1].eq(-1).all()
    final_cell = (int(0.7 * 16), int(0.6 * 16))
    assert encoded[0, 0, 4, final_cell[0], final_cell[1]].item() == pytest.approx(0.6 * 16 - final_cell[1], abs=1e-5)
    assert (encoded[0, 0, :6] != -1).sum() == 6


def test_non_square_maps_use_width_for_x_and_height_for_y():
    drags = single_drag(0.3, 0.6, 0.5, 0.25)
    height, width = 12, 20
    encoded = encode_drags(drags, height, width)
    assert encoded.shape == (1, 2, 30, height, width)
    # start: x*20 = 6 (even) -> col 6 value 0; y*12 = 7.2 -> row 7 value 0.2
    assert encoded[0, 0, 0, 7, 6].item() == pytest.approx(0.0, abs=1e-5)
    assert encoded[0, 0, 1, 7, 6].item() == pytest.approx(0.2, abs=1e-5)
    # current: x*20 = 10 (even) -> col 10; y*12 = 3 (odd) -> row 2 value 1.0
    assert encoded[0, 1, 3, 2, 10] == 1.0
    assert (encoded[0, 0] != -1).sum() == 6


def test_non_square_position_table_encodes_columns_then_rows():
    table = sincos_position_table(4, 6)
    assert table.shape == (64, 4, 6)
    assert torch.equal(table[:32, 0], table[:32, 3])
    assert torch.equal(table[32:, :, 0], table[32:, :, 5])
    assert torch.equal(table[:32, 0, :4], sincos_position_table(4, 4)[:32, 0])


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="batch, frames, slots, 4"):
        encode_drags(torch.zeros(14, 5, 4), 32, 32)
