"""Looking inside a trained network: what its units see, what its decisions rest on, where it
goes wrong. Plain NumPy (or CuPy through the run's backend), free of Qt."""
