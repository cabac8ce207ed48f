"""Real run files for the tests of the list of runs and of their comparison: three small
trainings with different settings, trained once per test session."""

from functools import cache

from engine.checkpoint import save_run
from tests.engine.trainer_helpers import make_trainer

# name, start, settings, epochs planned when the file is written
RUNS = (
    ("alpha", "2026-11-01T09:00:00", dict(optimizer="adam", lr=0.01, batch_size=16, epochs=2), 2),
    ("beta", "2026-11-02T10:30:00", dict(optimizer="momentum", lr=0.05, batch_size=16, epochs=3),
     3),
    ("gamma", "2026-10-30T18:05:00", dict(optimizer="sgd", lr=0.1, batch_size=32, epochs=1), 4),
)


@cache
def trained_runs():
    runs = []
    for name, created, settings, planned in RUNS:
        trainer = make_trainer(**settings)
        list(trainer.train())
        trainer.run.continued(epochs=planned)
        trainer.run.name, trainer.run.created = name, created
        runs.append(trainer.run)
    return runs


def save_runs(folder):
    """Write the three runs into `folder` as alpha.ckpt, beta.ckpt, gamma.ckpt; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for run in trained_runs():
        paths.append(folder / f"{run.name}.ckpt")
        save_run(run, paths[-1])
    return paths
