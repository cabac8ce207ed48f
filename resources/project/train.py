"""Train the exported network with DistributedDataParallel: one process per GPU (or several
on the CPU), on one machine or many, started by torchrun. See README.md.

    torchrun --standalone --nproc_per_node=gpu train.py [--epochs N] [--data PATH]
    python train.py                       (one process, no torchrun)

The settings are the designer's run's (settings.json); each flag overrides one. Data are read,
normalised and augmented, weights updated and the learning rate scheduled by the designer's
own modules, copied into engine/ beside this file, so the run goes as it would there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine.backend import Backend  # noqa: E402
from engine.data import Normalizer, augment, data_source, load_data  # noqa: E402
from engine.errors import ConvNetError  # noqa: E402
from engine.export.layout import normalizer_arrays, normalizer_from  # noqa: E402
from engine.optim import Optimizer  # noqa: E402
from engine.schedules import learning_rate  # noqa: E402
from engine.spec import Volume  # noqa: E402
from model import CLASS_NAMES, DECAYED, INPUT_SHAPE, LOSS, MARGIN, Net  # noqa: E402

# A one-channel input's filter gradient comes with another stride on its size-1 axis than
# DDP's bucket: harmless, and said once per process per step without this.
warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
# The designer's optimizers run unchanged on tensors: they only ask their backend for `xp`.
TORCH = Backend("torch", torch, torch.as_tensor, lambda t: t.detach().cpu().numpy())
CHECKPOINT = "checkpoint.pt"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    settings = json.loads((HERE / "settings.json").read_text(encoding="utf-8"))
    c = settings["config"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--data", default=settings["data_source"],
                   help="a data set folder or .npz file, or 'digits' / 'shapes' "
                        f"(default: {settings['data_source'] or 'digits'})")
    p.add_argument("--epochs", type=int, default=c["epochs"], help=f"default {c['epochs']}")
    p.add_argument("--batch-size", type=int, default=c["batch_size"],
                   help=f"images per step over all processes together, an equal share each "
                        f"(default {c['batch_size']})")
    p.add_argument("--lr", type=float, default=c["lr"], help=f"default {c['lr']:g}")
    p.add_argument("--weights", default=str(HERE / "weights.pt"), help="initial weights")
    p.add_argument("--out", default=str(HERE), help=f"folder for {CHECKPOINT}")
    p.add_argument("--resume", metavar=CHECKPOINT, help="continue a checkpoint")
    p.add_argument("--max-steps", type=int, help="a quick check: end the epoch after N steps")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return p.parse_args(argv), settings


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    try:
        train(args, settings)
    except ConvNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def train(args: argparse.Namespace, settings: dict) -> None:
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank, local_rank = int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    config = {**settings["config"], "epochs": args.epochs, "batch_size": args.batch_size,
              "lr": args.lr}
    if config["batch_size"] % world:
        raise ConvNetError(f"The batch size {config['batch_size']} does not split evenly over "
                           f"{world} processes; give --batch-size a multiple of {world}.")
    c, h, w = INPUT_SHAPE
    data = load_data(args.data, Volume(w, h, c))
    if len(data.class_names) != len(CLASS_NAMES):
        raise ConvNetError(f"'{data.name}' has {len(data.class_names)} classes but the network "
                           f"gives {len(CLASS_NAMES)} class scores.")

    model = Net()
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    state = {"epoch": 0, "history": {k: [] for k in (
        "step", "loss", "lr", "epoch", "train_acc", "val_acc", "train_loss", "val_loss")}}
    # one designer optimizer per parameter tensor, each with its own cache
    optimizers = {name: Optimizer(config["optimizer"], TORCH, config["momentum"])
                  for name, _ in model.named_parameters()}
    if args.resume:
        state = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        for name, optimizer in optimizers.items():
            optimizer.slots = [t.to(device) for t in state["optimizer"]["slots"][name]]
            optimizer.steps = state["optimizer"]["steps"]
    elif settings["fit_normalization"]:  # as a new run does, on the training images
        fitted = Normalizer.fit(data.train_x, config["normalization"])
        for name, array in normalizer_arrays(fitted).items():
            getattr(model.normalize, name).copy_(torch.from_numpy(array))
    normalizer = normalizer_from(model.normalize.mean.numpy(), model.normalize.std.numpy())
    model.to(device)
    if cuda and world > 1:  # batch statistics over all GPUs; PyTorch has no CPU version
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) \
        if world > 1 else model

    torch.manual_seed(config["seed"] + rank)  # dropout masks
    rng = np.random.default_rng([config["seed"], rank])  # augmentation
    n, share = len(data.train_x), config["batch_size"] // world
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True,
                                 seed=config["seed"])
    history, step = state["history"], len(state["history"]["step"])
    for epoch in range(state["epoch"], config["epochs"]):
        # A run the designer stopped within this epoch goes on there: `offset` images of it
        # are done, with their sums (the checkpoints written here are at an epoch's end).
        resumed = epoch == state["epoch"]
        offset = state.get("offset", 0) if resumed else 0
        sampler.set_epoch(epoch)  # a new order every epoch, the same on every process
        mine = np.fromiter(sampler, np.int64)[offset // world:]  # each process skips its share
        model.train()
        sums = torch.zeros(3, dtype=torch.float64)  # loss · images, correct, images
        if resumed and rank == 0:  # counted once over the processes
            sums += torch.tensor(state.get("sums", (0, 0, 0)), dtype=torch.float64)
        for i, start in enumerate(range(0, len(mine), share)):
            rows = mine[start:start + share]
            done = min(offset + i * config["batch_size"], n) / n
            lr = learning_rate(config["schedule"], config["lr"], epoch + done,
                               max(config["epochs"], 1), config["step_epochs"], config["gamma"])
            x = normalizer(data.train_x[rows])  # normalise, then augment: the
            if config["flip"] or config["crop_pad"]:  # crop's padding is the mean colour
                x = augment(x, rng, config["flip"], config["crop_pad"])
            y = torch.from_numpy(data.train_y[rows]).to(device)
            loss, scores = step_once(net, model, optimizers, nchw(x, device), y, lr, config)
            if world > 1:  # the step's loss over the whole batch: the shares are equal
                whole = torch.tensor([loss], dtype=torch.float64, device=device)
                dist.all_reduce(whole)
                loss = float(whole) / world
            sums += torch.tensor([loss * len(y), float((scores.argmax(1) == y).sum()), len(y)],
                                 dtype=torch.float64)
            step += 1
            for key, value in (("step", step), ("loss", loss), ("lr", lr)):
                history[key].append(value)
            if args.max_steps and step >= args.max_steps:
                break
        train_loss, train_acc = reduce(sums, world, device)
        val_loss, val_acc = evaluate(model, data.val_x, data.val_y, rank, world, config, device)
        for key, value in (("epoch", epoch + 1), ("train_acc", train_acc), ("val_acc", val_acc),
                           ("train_loss", train_loss), ("val_loss", val_loss)):
            history[key].append(value)
        if rank == 0:
            print(f"epoch {epoch + 1}/{config['epochs']}: train accuracy {train_acc:.1%} "
                  f"(loss {train_loss:.4f}), validation accuracy {val_acc:.1%} "
                  f"(loss {val_loss:.4f})", flush=True)
            save_checkpoint(Path(args.out), model, optimizers, epoch + 1, history, config,
                            data_source(args.data), data.name)
        if args.max_steps and step >= args.max_steps:
            break


def nchw(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)


def data_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if LOSS == "svm":  # the designer sums the margins over the wrong classes; PyTorch
        # averages them over all C classes
        return scores.shape[1] * F.multi_margin_loss(scores, labels, margin=MARGIN)
    return F.cross_entropy(scores, labels)


def step_once(net, model, optimizers: dict[str, Optimizer], x: torch.Tensor, y: torch.Tensor,
              lr: float, config: dict) -> tuple[float, torch.Tensor]:
    """One training step: forward, loss, backward (DDP averages the gradients over the
    processes), L2 weight decay and the designer's update. The data loss (without the weight
    decay's penalty, as the designer reports it) and the scores."""
    scores = net(x, normalized=True)
    loss = data_loss(scores, y)
    for p in model.parameters():
        p.grad = None
    loss.backward()
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name in DECAYED:  # λ·W added to the weights' gradients, as the designer does
            named[name].grad += config["weight_decay"] * named[name]
        for name, p in named.items():
            optimizers[name].step(p.data, p.grad, lr)
    return float(loss.detach()), scores.detach()


def reduce(sums: torch.Tensor, world: int, device: torch.device) -> tuple[float, float]:
    """Mean loss and accuracy from sums of (loss · images, correct, images) over processes."""
    if world > 1:
        sums = sums.to(device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    total, correct, count = sums.tolist()
    return (total / count, correct / count) if count else (math.nan, math.nan)


@torch.no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray, rank: int, world: int, config: dict,
             device: torch.device) -> tuple[float, float]:
    """Loss and accuracy on raw images, each process taking every world-th image."""
    if world > 1:  # every process evaluates rank 0's batch-norm statistics, which it saves
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    mine = np.arange(rank, len(x), world)
    for start in range(0, len(mine), config["batch_size"]):
        rows = mine[start:start + config["batch_size"]]
        images = nchw(x[rows].astype(np.float32), device)
        labels = torch.from_numpy(y[rows]).to(device)
        scores = model(images)
        sums += torch.tensor([float(data_loss(scores, labels)) * len(rows),
                              float((scores.argmax(1) == labels).sum()), len(rows)],
                             dtype=torch.float64)
    return reduce(sums, world, device)


def save_checkpoint(folder: Path, model, optimizers: dict[str, Optimizer], epoch: int,
                    history: dict, config: dict, data_source: str | None,
                    data_name: str) -> None:
    """What the designer's import needs, and what --resume continues; replaced atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch, "history": history, "config": config,
        "class_names": list(CLASS_NAMES), "data_source": data_source, "data_name": data_name,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": {"steps": next(iter(optimizers.values())).steps if optimizers else 0,
                      "slots": {k: [t.cpu() for t in o.slots] for k, o in optimizers.items()}},
    }
    partial = folder / f".{CHECKPOINT}.partial"
    torch.save(state, partial)
    os.replace(partial, folder / CHECKPOINT)


if __name__ == "__main__":
    sys.exit(main())
