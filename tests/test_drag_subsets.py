"""The per-step drag subset on synthetic tracks: the official dataset's rules, and their statistics."""

import math

import pytest
import torch

from training.dataset import draw_generator
from training.drag_subsets import DragSubsetRule, displacement, draw_drag_subset

FRAMES, RENDER = 14, 512


def line(start, length, direction=(1.0, 0.0)):
    """A (F, 2) track moving `length` pixels in total along `direction` from `start`."""
    steps = torch.linspace(0, 1, FRAMES)[:, None] * torch.tensor(direction)[None] * length
    return torch.tensor(start, dtype=torch.float32)[None] + steps


def subset(candidates, seed, render=RENDER, **rule):
    return draw_drag_subset(torch.stack(candidates), draw_generator(seed, 0, "example"), render, DragSubsetRule(**rule))


def contains(tracks, track):
    return any(torch.equal(t, track) for t in tracks)


def test_of_a_close_pair_the_later_goes_whatever_its_size():
    big = line((100, 100), 200)
    smaller = line((100, 110), 190)  # per-frame distance <= 14.2 px: a duplicate at 512
    apart = line((100, 300), 120)
    for seed in range(50):
        kept = subset([big, smaller, apart], seed)
        assert contains(kept, big) and not contains(kept, smaller)
        kept = subset([smaller, big, apart], seed)
        assert contains(kept, smaller) and not contains(kept, big)


def test_duplicate_distance_is_at_most_20_px_at_512_and_scales_with_the_render():
    base = line((100, 100), 200)
    at_limit = base + torch.tensor([20.0, 0.0])
    beyond = base + torch.tensor([20.5, 0.0])
    assert len(subset([base, at_limit], 0, drop_small=False)) == 1
    assert len(subset([base, beyond], 0, drop_small=False)) == 2
    assert len(subset([base / 2, beyond / 2], 0, render=256, drop_small=False)) == 2
    assert len(subset([base / 2, base / 2 + torch.tensor([10.0, 0.0])], 0, render=256, drop_small=False)) == 1
    assert len(subset([base, base + torch.tensor([35.0, 0.0])], 0, duplicate_distance=40, drop_small=False)) == 1


def test_of_many_a_close_pair_is_never_kept_together_and_the_largest_whenever_drawn():
    """Eight candidates (more than 5: a random 5 in random order are drawn), two of them a close pair."""
    largest = line((50, 50), 300)
    pair = [line((50, 250), 200), line((58, 258), 190)]
    others = [line((50, 100 + 40 * k), 60 + 20 * k, (0.6, 0.8)) for k in range(5)]
    draws, with_largest = 400, 0
    for seed in range(draws):
        kept = subset([largest, *pair, *others], seed)
        assert 1 <= len(kept) <= 5
        assert not (contains(kept, pair[0]) and contains(kept, pair[1]))
        with_largest += contains(kept, largest)
    drawn = 5 / 8  # the largest is in the random 5 with probability 5/8, and then always kept
    assert abs(with_largest / draws - drawn) <= 4 * math.sqrt(drawn * (1 - drawn) / draws)


def test_the_largest_track_is_always_kept():
    largest = line((50, 50), 300)
    small = [line((50, 150 + 60 * k), 10 + 5 * k, (0.0, 1.0)) for k in range(4)]
    for seed in range(500):
        assert contains(subset([*small[:2], largest, *small[2:]], seed), largest)


def test_a_track_with_a_quarter_of_the_largest_displacement_is_kept_half_the_time():
    """Keep probability min(1, 2 d_i / d_max) = 0.5; n draws: |freq - 0.5| <= 4 sigma, sigma = sqrt(0.25 / n)."""
    largest, quarter = line((50, 50), 200), line((50, 300), 50)
    assert float(displacement(quarter[None]) / displacement(largest[None])) == pytest.approx(0.25)
    draws = 4000
    kept = sum(contains(subset([largest, quarter], seed), quarter) for seed in range(draws))
    assert abs(kept / draws - 0.5) <= 4 * math.sqrt(0.25 / draws)
    half = line((50, 300), 100)
    assert all(contains(subset([largest, half], seed), half) for seed in range(200))  # 2 d_i / d_max = 1


def test_never_more_than_five_and_a_random_five_of_many():
    candidates = [line((20 + 40 * k, 20 + 30 * k), 100) for k in range(12)]
    seen = set()
    for seed in range(200):
        kept = subset(candidates, seed, drop_small=False)
        assert len(kept) == 5
        seen.update(next(i for i, c in enumerate(candidates) if torch.equal(c, t)) for t in kept)
        assert len(subset(candidates, seed)) <= 5
    assert seen == set(range(12))
    assert len(subset(candidates, 0, max_drags=3, drop_small=False)) == 3


def test_no_candidates_and_zero_motion():
    empty = draw_drag_subset(torch.zeros(0, FRAMES, 2), draw_generator(0, 0, "example"), RENDER)
    assert empty.shape == (0, FRAMES, 2)
    still = [torch.full((FRAMES, 2), 40.0), torch.full((FRAMES, 2), 200.0)]
    assert len(subset(still, 0)) == 2  # official: 0 / 0 is NaN and drops nothing


def test_the_same_seed_gives_the_same_subset():
    candidates = [line((20 + 40 * k, 20 + 30 * k), 40 + 30 * k) for k in range(9)]
    assert all(torch.equal(subset(candidates, seed), subset(candidates, seed)) for seed in range(20))
    assert any(not torch.equal(subset(candidates, 0), subset(candidates, seed)) for seed in range(1, 20))


def test_bad_rule_is_refused():
    with pytest.raises(ValueError, match="max_drags must be 1..5"):
        DragSubsetRule(max_drags=6)
    with pytest.raises(ValueError, match="duplicate_distance must be >= 0"):
        DragSubsetRule(duplicate_distance=-1)
