"""The memory model of engine.shapes counts what the engine really holds in a step: the
buffers of the step's plan, which the model allocates, and little else."""

import tracemalloc

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.model import build
from engine.optim import Optimizer
from engine.rollback import LastGood
from engine.plan import make_plan, pools_rows_first
from engine.shapes import analyse
from engine.spec import Volume, make_layer as layer, network

NETWORKS = {
    "conv-pool": network("a", (32, 32, 3), layer("conv", filters=32), layer("relu"),
                         layer("pool"), layer("conv", "conv2", filters=64), layer("relu", "relu2"),
                         layer("pool", "pool2"), layer("fc", units=10), layer("softmax")),
    "batchnorm": network("b", (16, 16, 3), layer("conv", filters=16), layer("batchnorm"),
                         layer("relu"), layer("pool", size=3, stride=1, pad=1),
                         layer("conv", "conv2", filters=32, size=4, stride=2), layer("tanh"),
                         layer("fc", units=10), layer("softmax")),
    "lrn-dropout": network("c", (16, 16, 3), layer("conv", filters=16, size=5, pad=2),
                           layer("relu"), layer("lrn"), layer("pool", mode="avg"),
                           layer("dropout"), layer("fc", units=32), layer("relu", "relu2"),
                           layer("sigmoid"), layer("fc", "fc2", units=10), layer("svm")),
    "gap": network("d", (16, 16, 3), layer("conv", filters=32), layer("leaky_relu"),
                   layer("conv", "conv2", filters=32), layer("relu"), layer("gap"),
                   layer("fc", units=10), layer("softmax")),
}


def measured_peak(spec, batch, optimizer):
    """Peak bytes NumPy allocates to build the model and run two training steps as the
    trainer does (the second one with the optimizer's cache and its last good copy)."""
    v = spec.input_volume
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, v.height, v.width, v.depth), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    tracemalloc.start()
    try:
        model = build(spec, NUMPY, 0)
        opt = Optimizer(optimizer, NUMPY)
        last_good = LastGood(model, opt)
        batch_x = x.copy()
        for _ in range(2):
            model.train_step(batch_x, labels)
            last_good.save()
            opt.step(model.store.values, model.store.grads, 0.01)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# What the model leaves out is NumPy's own: its ufuncs' buffers (8192 elements an operand)
# and the row of zeros ReLUs compare with (`engine.layers.base.against_zero`).
NUMPY_OWN = 128 * 1024


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("batch", [1, 32])
def test_predicted_memory_is_what_a_step_allocates(name, optimizer, batch):
    """Its temporaries included: a convolution's filter matrix, the update's pieces."""
    spec = NETWORKS[name]
    predicted = analyse(spec).memory(batch, optimizer).total
    measured = measured_peak(spec, batch, optimizer)
    assert predicted <= measured < predicted + NUMPY_OWN


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_the_model_allocates_exactly_the_planned_buffers(name):
    spec = NETWORKS[name]
    model = build(spec, NUMPY, 0)
    model.step_arrays(16, np.float32)
    allocated = sum(a.nbytes for a in model._buffers.flat.values())
    m = analyse(spec).memory(16)
    assert allocated == m.activations + m.gradients + m.workspace
    model.step_arrays(8, np.float32)  # a smaller batch uses the same buffers
    assert sum(a.nbytes for a in model._buffers.flat.values()) == allocated


def test_activations_run_in_place_unless_their_input_is_still_needed():
    spec = network("e", (8, 8, 1), layer("relu"), layer("conv", filters=2), layer("relu"),
                   layer("sigmoid"), layer("fc", units=2), layer("softmax"))
    assert [i.in_place for i in analyse(spec).layers] == [
        False, False, False, True, False, False, False]


def test_an_activation_after_a_max_pool_or_lrn_gets_memory_of_its_own():
    """Their backward passes read their outputs, so an activation may not overwrite them;
    after an average pool it may."""
    spec = network("e", (8, 8, 2), layer("pool", mode="max"), layer("tanh"), layer("lrn"),
                   layer("relu"), layer("pool", mode="avg"), layer("relu"),
                   layer("fc", units=2), layer("softmax"))
    infos = analyse(spec).layers
    assert [i.in_place for i in infos[1:7]] == [False, False, False, False, False, True]
    assert infos[2].allocated == infos[2].activations and infos[6].allocated == 0


def test_workspace_and_gradient_buffers_per_layer():
    a = analyse(NETWORKS["batchnorm"])
    conv, bn, relu, pool, conv2 = a.layers[1:6]
    padded = 18 * 18 * 3
    # im2col: W2·H2 rows of F·F·D1 inputs and a 1 for the bias
    assert conv.workspace == 16 * 16 * (3 * 3 * 3 + 1) + padded
    assert bn.workspace == bn.activations and relu.workspace == 0
    assert pool.workspace == 18 * 18 * 16  # the input with its −∞ border
    plan = make_plan(a.layers[1:-1])
    # the backward pass alternates between two buffers; batch norm, the ReLU and the tanh
    # work in place, and the first convolution has no input gradient
    assert [p.gradient for p in plan.layers] == [None, None, None, 0, 1, None, 0]
    fc = a.layers[7]
    assert plan.gradients == (max(fc.input.size, pool.input.size), conv2.input.size)
    # scratch: none for the first convolution, which computes no input gradient; batch
    # norm's correction; none for the ReLU, whose work the max pool above does; that pool's
    # winners and, as its windows overlap, their shares; the second convolution's output
    # and padded input gradients
    assert [p.scratch for p in plan.layers[:5]] == [0, bn.activations, 0, 2 * pool.activations,
                                                    conv2.activations + 18 * 18 * 16]
    m = a.memory(8, "sgd")
    assert m.workspace == 8 * 4 * (sum(i.workspace for i in a.layers) + 2 * pool.activations)
    assert m.gradients == 8 * 4 * sum(plan.gradients)


def test_a_relu_below_a_max_pool_leaves_its_work_and_its_scratch_to_the_pool():
    a = analyse(NETWORKS["conv-pool"])
    plan = make_plan(a.layers[1:-1])
    assert [p.relu_left_to_pool for p in plan.layers] == [False, True, False, False, True,
                                                           False, False]
    pool = a.layers[3]   # 2×2/2: it keeps a mark per input and, while it marks them, needs
    assert [p.scratch for p in plan.layers[:3]] == [0, 0, pool.output.size // 4]  # one per output
    assert plan.layers[2].kept == {"marks": pool.input.size // 4}  # four to a float


def test_outputs_only_the_layer_above_reads_wait_in_the_idle_gradient_buffers():
    """A convolution's output that feeds a pool, and a pool's that feeds a convolution,
    are read only by that layer's forward pass; the gradient buffers, idle until the
    backward pass, hold them in turn, starting with the one that leaves them smaller."""
    a = analyse(NETWORKS["conv-pool"])
    plan = make_plan(a.layers[1:-1])
    conv, pool, conv2, pool2, fc = (a.layers[k] for k in (1, 3, 4, 6, 7))
    # conv → (ReLU) → pool → conv2 → (ReLU) → pool2; the fully connected layer reads its
    # input
    assert [p.held_in for p in plan.layers] == [1, None, 0, 1, None, None, None]
    assert [p.output for p in plan.layers] == [0, 0, 0, 0, 0, pool2.output.size, fc.output.size]
    # the first pool's input gradient, as large as the first convolution's output, is in
    # buffer 1 anyway; the other two outputs fit beside it
    assert plan.gradients == (max(fc.input.size, pool.output.size),
                              max(pool.input.size, conv.output.size, conv2.output.size))
    kept_for_backward = network(
        "k", (16, 16, 3), layer("conv", filters=8), layer("tanh"), layer("pool"),
        layer("conv", "conv2", filters=8), layer("pool", "overlapping", size=3, stride=1),
        layer("pool", "averaging", mode="avg"), layer("conv", "conv3", filters=4),
        layer("fc", units=10), layer("softmax"))
    # the tanh's backward pass reads its output (the convolution's, which it overwrote),
    # the overlapping max pool's its input and output, the fully connected layer's its
    # input; the pools feeding convolutions read neither
    held = [p.held_in for p in make_plan(analyse(kept_for_backward).layers[1:-1]).layers]
    assert [k for k, buffer in enumerate(held) if buffer is not None] == [2, 5]


def test_a_pool_whose_windows_tile_a_thin_input_combines_rows_first_in_the_scratch():
    """A 2×2/2 pool on 28×28×6 (as LeNet-5's S2) whose input is not in window order
    combines each window's rows first, in the scratch buffer; a pool on a deep input or
    with overlapping windows walks its F·F taps. A tiling average pool repeats its
    gradient along the rows in the same room."""
    assert pools_rows_first(layer("pool"), Volume(28, 28, 6))
    assert pools_rows_first(layer("pool", size=3, stride=3), Volume(9, 9, 16))
    assert not pools_rows_first(layer("pool"), Volume(32, 32, 32))
    assert not pools_rows_first(layer("pool", size=3, stride=2), Volume(27, 27, 6))
    assert not pools_rows_first(layer("pool", size=2, stride=2, pad=1), Volume(26, 26, 6))
    spec = network("l", (32, 32, 1), layer("conv", filters=6, size=5, pad=0), layer("lrn"),
                   layer("pool", "max"), layer("conv", "c2", filters=32, size=3, pad=1),
                   layer("lrn", "lrn2"), layer("pool", "avg", mode="avg"),
                   layer("fc", units=10), layer("softmax"))
    a = analyse(spec)
    plan = make_plan(a.layers[1:-1])
    assert [p.window_order for p in plan.layers] == [1] * 7
    max_pool, avg_pool = a.layers[3], a.layers[6]
    assert plan.layers[2].scratch == max(max_pool.input.size // 2, max_pool.output.size // 4)
    assert plan.layers[5].scratch == avg_pool.input.size // 2  # the gradient repeated


def test_a_convolution_feeding_a_tiling_max_pool_writes_its_pixels_in_window_order():
    """Through activations only: the convolution and the activations on the way keep the
    pool's window order, and the pool needs no room to combine rows."""
    spec = network("l", (32, 32, 1), layer("conv", filters=6, size=5, pad=0), layer("relu"),
                   layer("pool", "max"), layer("conv", "c2", filters=32, size=3, pad=1),
                   layer("tanh"), layer("sigmoid"), layer("pool", "p2", size=7, stride=7),
                   layer("conv", "c3", filters=8, size=1, pad=0), layer("lrn"),
                   layer("pool", "p3"), layer("fc", units=10), layer("softmax"))
    a = analyse(spec)
    plan = make_plan(a.layers[1:-1])
    # c3's output reaches its pool through LRN, which is no activation
    assert [p.window_order for p in plan.layers] == [2, 2, 1, 7, 7, 7, 1, 1, 1, 1, 1]
    max_pool = a.layers[3]
    assert plan.layers[2].scratch == max_pool.output.size // 4
    averaged = network("v", (32, 32, 3), layer("conv", filters=8), layer("relu"),
                       layer("pool", mode="avg"), layer("fc", units=10), layer("softmax"))
    assert [p.window_order for p in make_plan(analyse(averaged).layers[1:-1]).layers] == [1] * 4
