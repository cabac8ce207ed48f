"""Training in the window: the Train panel, its background worker and the live views."""
