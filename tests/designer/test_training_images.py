"""The pictures of the training views, without Qt: shrinking, contrast, grids, hover lookup."""

import numpy as np
import pytest

from designer.training.images import (
    GAP, GAP_RGB32, MAX_TILE, filter_tiles, shrink, stretch, tile_grid, to_rgb32,
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


def grid(tiles):
    """Tiles in 0..1 laid out the way the views lay them out."""
    scaled, ranges = stretch(tiles)
    return tile_grid(to_rgb32(scaled), int(np.ceil(np.sqrt(len(tiles)))), ranges)


@pytest.mark.parametrize("depth", [1, 5, 16, 17])
def test_a_grid_has_one_tile_per_slice(depth):
    slices = np.random.default_rng(0).normal(size=(depth, 6, 6)).astype(np.float32)
    m = grid(slices)
    assert m.count == depth and m.ranges.shape == (depth, 2)
    rows = -(-depth // m.cols)
    assert m.image.shape == (rows * (6 + GAP) - GAP, m.cols * (6 + GAP) - GAP)
    assert m.image.dtype == np.uint32 and (m.image >> 24 == 0xFF).all()


def test_tile_at_finds_each_slice_and_ignores_gaps():
    slices = np.stack([np.full((4, 4), float(k)) + np.eye(4) for k in range(7)])
    m = grid(slices)
    for k in range(7):
        r, c = divmod(k, m.cols)
        y, x = r * (m.tile_height + GAP) + 1, c * (m.tile_width + GAP) + 1
        assert m.tile_at(y, x) == k
        assert m.ranges[k].tolist() == [k, k + 1]
    assert m.tile_at(m.tile_height, 0) is None           # on the gap below the first tile
    assert m.image[m.tile_height, 0] == GAP_RGB32
    assert m.tile_at(-1, 0) is None


def test_filters_are_drawn_in_colour_when_rgb_and_as_their_mean_over_depth_otherwise():
    rng = np.random.default_rng(1)
    rgb = filter_tiles(rng.normal(size=(5, 5, 3, 12)))
    deep = rng.normal(size=(3, 3, 8, 20))
    assert rgb.shape == (12, 5, 5, 3)
    np.testing.assert_allclose(filter_tiles(deep), np.moveaxis(deep, -1, 0).mean(axis=-1))
    packed = to_rgb32(stretch(rgb)[0])
    red, green = (packed >> 16) & 0xFF, (packed >> 8) & 0xFF
    assert not np.array_equal(red, green)                # channels differ: colour
