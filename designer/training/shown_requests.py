"""Views whose request to the session depends on whether they are on screen."""

from __future__ import annotations


class AsksWhenShown:
    """Mixed into a QWidget with a `wanted` signal and a `request()` that asks for nothing
    while the view is hidden: it asks again whenever it is shown or hidden, so the session
    computes only what is on screen."""

    def _emit_wanted(self, *_) -> None:
        self.wanted.emit(self.request())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._emit_wanted()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._emit_wanted()
