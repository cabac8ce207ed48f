"""Looking inside a training run: computations the Train workspace and the CLI show."""
