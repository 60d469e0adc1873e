"""Python's cyclic garbage collector, held off while ``cnn-gui`` starts.

Importing torch and the window's modules makes some 400,000 long-lived objects (modules,
classes, functions), and each full collection the interpreter runs meanwhile walks all of
them: four or five full passes of 20-110 ms each, ~0.3 s of a ~2 s start, to free a few
dozen objects (measured with ``gc.callbacks``; ``benchmarks/startup.py``). So
:func:`hold` switches the collector off before the import thread starts, and
:func:`release` (once the modules are in) moves everything alive into the permanent
generation (``gc.freeze``: later collections, during training too, no longer walk torch's
modules) and switches it back on. Reference counting frees all but cyclic garbage in
between, and the few cycles made before :func:`release` stay (a few kB).

Only :func:`cnn_gui.gui.app.run` does this: a process that imports cnn-gui as a library
(the tests, a notebook) keeps its collector as it was.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """Switch the collector off for the start-up (a no-op when it was already off)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release() -> None:
    """Freeze what start-up made and switch the collector back on, if :func:`hold` switched
    it off; safe to call more than once (the import failed, then the window closed)."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()
