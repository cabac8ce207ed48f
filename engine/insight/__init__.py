"""Looking inside a network and its training: what its units see, what its decisions rest
on, where it goes wrong, how healthy each layer's training is, which learning rate suits it.
Plain NumPy (or CuPy through the run's backend), free of Qt; the Train workspace and the
CLI show it."""
