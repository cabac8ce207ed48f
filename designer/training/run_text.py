"""How a run reads in the window (its date, epochs, accuracy and settings), in one place
for the list of runs and the comparison of runs."""

from __future__ import annotations

from datetime import datetime

from engine.checkpoint import RunSummary
from engine.config import TrainConfig

# The settings only some updates and schedules read (engine.optim, engine.schedules): a
# run that does not use one is not told apart by it.
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")
GAMMA_SCHEDULES = ("step", "exponential")
# Always named in a comparison: the settings people change most, so each legend entry
# reads on its own; every other fact is named only where the compared runs differ in it.
KEY_FACTS = ("optimizer", "lr", "batch_size")


def local_time(created: str) -> str:
    """A run's start as local date and minute: 2026-11-29 20:45."""
    moment = datetime.fromisoformat(created)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def accuracy_text(accuracy: float | None) -> str:
    return "—" if accuracy is None else f"{100 * accuracy:.1f} %"


def epochs_text(run: RunSummary) -> str:
    """Epochs done, and the planned number where the run has not reached it: "3 of 10"."""
    done, planned = run.epochs_done, run.config.epochs
    return str(done) if done == planned else f"{done} of {planned}"


def setting_phrases(config: TrainConfig) -> dict[str, str | None]:
    """Every setting as a short phrase, in reading order; None where it does not apply."""
    c = config
    return {
        "optimizer": c.optimizer,
        "lr": f"lr {c.lr:g}",
        "momentum": f"momentum {c.momentum:g}" if c.optimizer in MOMENTUM_OPTIMIZERS else None,
        "weight_decay": f"weight decay {c.weight_decay:g}",
        "schedule": _schedule(c),
        "batch_size": f"batch {c.batch_size}",
        "epochs": f"{c.epochs} epochs",
        "flip": "flips" if c.flip else "no flips",
        "crop_pad": f"crops padded {c.crop_pad} px" if c.crop_pad else "no crops",
        "normalization": f"{c.normalization} normalisation",
        "seed": f"seed {c.seed}",
        "device": c.device,
    }


def _schedule(c: TrainConfig) -> str:
    if c.schedule == "step":
        return f"lr ×{c.gamma:g} every {c.step_epochs} epochs"
    if c.schedule in GAMMA_SCHEDULES:
        return f"{c.schedule} lr ×{c.gamma:g} per epoch"
    return f"{c.schedule} lr"


def run_facts(run: RunSummary) -> dict[str, str | None]:
    """What makes a run what it is: its network, its data and its settings, as phrases."""
    return {"network": run.spec.name, "data": f"on {run.data_name}",
            **setting_phrases(run.config)}


def joined(phrases: dict[str, str | None], keys=None) -> str:
    """The phrases that apply (of `keys`, if given), comma-separated."""
    return ", ".join(text for key, text in phrases.items()
                     if text and (keys is None or key in keys))


def legend_entries(runs: list[RunSummary]) -> list[str]:
    """"name — settings" per run: the key settings and every fact the runs differ in."""
    facts = [run_facts(run) for run in runs]
    shown = [key for key in facts[0]
             if key in KEY_FACTS or len({f[key] for f in facts}) > 1]
    return [f"{run.name} — {joined(f, shown)}" for run, f in zip(runs, facts)]


def run_tooltip(run: RunSummary) -> str:
    """Everything about a run on a few lines: the list's tooltip."""
    return "\n".join((
        run.name,
        f"{run.spec.name} on {run.data_name}, started {local_time(run.created)}, "
        f"epochs {epochs_text(run)}, best validation accuracy {accuracy_text(run.best_val_acc)}",
        joined(setting_phrases(run.config)),
        str(run.path),
    ))
