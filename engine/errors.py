"""The project's error type: its message is one plain sentence for the user."""


class ConvNetError(Exception):
    """A failure the user can act on; str(error) names what is wrong and what to do."""


class NetworkFileError(ConvNetError):
    """A network or checkpoint file that cannot be read or written."""
