"""The pictures of the training views, without Qt: shrinking, contrast, mosaics, hover lookup."""

import numpy as np
import pytest

from designer.training.images import (
    GAP, GAP_COLOUR, MAX_TILE, activation_mosaic, filter_mosaic, mosaic, shrink, stretch,
)


def test_stretch_maps_each_tile_to_0_1_and_keeps_its_range():
    tiles = np.stack([np.linspace(-2, 3, 16).reshape(4, 4), np.full((4, 4), 7.0)])
    scaled, ranges = stretch(tiles)
    assert scaled[0].min() == 0 and scaled[0].max() == 1
    assert np.all(scaled[1] == 0)                      # a constant tile stays flat
    np.testing.assert_allclose(ranges, [[-2, 3], [7, 7]])


def test_shrink_block_averages_large_maps_only():
    maps = np.arange(2 * 96 * 96, dtype=np.float32).reshape(2, 96, 96)
    small = shrink(maps)
    assert small.shape == (2, MAX_TILE, MAX_TILE)
    assert small[0, 0, 0] == maps[0, :2, :2].mean()
    small_maps = maps[:, :8, :8]
    assert shrink(small_maps) is small_maps


@pytest.mark.parametrize("depth", [1, 5, 16, 17])
def test_activation_mosaic_has_one_tile_per_depth_slice(depth):
    maps = np.random.default_rng(0).normal(size=(6, 6, depth)).astype(np.float32)
    m = activation_mosaic(maps)
    assert m.count == depth and m.ranges.shape == (depth, 2)
    rows = -(-depth // m.cols)
    height = rows * (m.tile_height + GAP) - GAP
    assert m.image.shape == (height, m.cols * (m.tile_width + GAP) - GAP, 3)
    assert 0 <= m.image.min() and m.image.max() <= 1


def test_tile_at_finds_each_slice_and_ignores_gaps():
    maps = np.stack([np.full((4, 4), float(k)) + np.eye(4) for k in range(7)], axis=-1)
    m = activation_mosaic(maps)
    for k in range(7):
        r, c = divmod(k, m.cols)
        y, x = r * (m.tile_height + GAP) + 1, c * (m.tile_width + GAP) + 1
        assert m.tile_at(y, x) == k
        assert m.ranges[k].tolist() == [k, k + 1]
    assert m.tile_at(m.tile_height, 0) is None           # on the gap below the first tile
    np.testing.assert_allclose(m.image[m.tile_height, 0], GAP_COLOUR)
    assert m.tile_at(-1, 0) is None


def test_filter_mosaic_draws_rgb_filters_in_colour_and_others_in_grey():
    rng = np.random.default_rng(1)
    rgb = filter_mosaic(rng.normal(size=(5, 5, 3, 12)))
    grey = filter_mosaic(rng.normal(size=(3, 3, 8, 20)))
    assert rgb.count == 12 and grey.count == 20
    tile = rgb.image[:rgb.tile_height, :rgb.tile_width]
    assert not np.allclose(tile[..., 0], tile[..., 1])   # channels differ: colour
    tile = grey.image[:grey.tile_height, :grey.tile_width]
    assert np.allclose(tile[..., 0], tile[..., 1])


def test_mosaic_of_one_tile_is_that_tile():
    m = mosaic(np.arange(16 * 16, dtype=np.float32).reshape(1, 16, 16))
    assert m.image.shape == (16, 16, 3) and m.count == 1 and m.cols == 1
