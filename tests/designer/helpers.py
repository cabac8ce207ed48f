"""Small helpers shared by the designer tests."""


def layer_named(document, name):
    """The layer of the document's network with this name."""
    return next(l for l in document.spec.layers if l.name == name)
