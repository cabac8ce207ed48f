"""Starts the designer: the application object, the main window, a file or a recovery copy."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

ORGANIZATION = "ConvNetDesigner"
APPLICATION = "ConvNet Designer"
# How long a thread running Python may keep the interpreter lock while another waits for it
# (Python's default is 5 ms). Qt calls into Python (slots, overridden methods) many times for
# one repaint, and while a run trains each call may wait this long for the worker thread
# (gui_latency.py on two cores: the worst stall 23–29 ms at 5 ms, 17–26 ms at 0.5 ms).
SWITCH_INTERVAL_S = 0.0005


def create_application(argv: list[str]) -> QtWidgets.QApplication:
    """The QApplication, named so QSettings and QStandardPaths find the designer's folders."""
    from designer.background import collect_garbage_on_the_gui_thread
    from engine.backend import leave_cores_free, probe_gpu

    app = QtWidgets.QApplication.instance()
    if app is None:
        # Fractional scale factors (150 %) as they are, not rounded: crisp text and icons.
        QtWidgets.QApplication.setHighDpiScaleFactorRoundingPolicy(
            QtCore.Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QtWidgets.QApplication(argv)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    collect_garbage_on_the_gui_thread()  # before any other thread runs Python
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # A core for the window: with a BLAS thread on every core, the GUI thread competes with
    # them for the CPU while a run trains, and stalls 3–4 times longer (gui_latency.py on two
    # cores: p99 7.5 → 1.8 ms, the worst stall 30–50 → 21 ms), for no faster training.
    leave_cores_free(1)
    probe_gpu()  # CUDA starts up in the background while the window is built
    # Plots follow the system theme instead of pyqtgraph's fixed black background.
    palette = app.palette()
    pg.setConfigOptions(background=palette.color(QtGui.QPalette.ColorRole.Base),
                        foreground=palette.color(QtGui.QPalette.ColorRole.Text), antialias=True)
    return app


def _no_display() -> bool:
    """On Linux, whether Qt would find no screen to open a window on."""
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def quit_on_interrupt(window: QtWidgets.QMainWindow) -> None:
    """Ctrl-C in the terminal that started the window closes it the way File ▸ Quit does,
    questions included; SIGTERM (a logout, `kill`) ends it without questions, keeping the
    unsaved network and the run (`MainWindow.end_without_asking`). Qt's event loop gives
    Python no chance to run a signal handler until some Python slot runs, so the signal
    also wakes a socket Qt watches."""
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QtCore.QSocketNotifier(reader.fileno(), QtCore.QSocketNotifier.Type.Read, window)
    notifier.activated.connect(lambda *_: reader.recv(64))  # the handler runs right after
    signal.signal(signal.SIGINT, lambda *_: QtCore.QTimer.singleShot(0, window.close))
    signal.signal(signal.SIGTERM,
                  lambda *_: QtCore.QTimer.singleShot(0, window.end_without_asking))
    window.interrupt_wakeup = (reader, writer, notifier)  # kept alive with the window


def run_app(argv: list[str] | None = None) -> int:
    """Open the window with the network file named in `argv` (or the default network)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _no_display():
        print("error: there is no display to open the window on; run it on a desktop, or use "
              "the headless commands (python main.py --help).", file=sys.stderr)
        return 2
    app = create_application(sys.argv[:1] + argv)
    from designer.main_window import MainWindow  # after the QApplication exists

    window = MainWindow()
    window.show()
    quit_on_interrupt(window)
    if not window.offer_recovery() and argv:
        window.load(Path(argv[0]))
    return app.exec()
