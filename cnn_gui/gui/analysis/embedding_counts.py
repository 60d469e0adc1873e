"""The Embedding tab's choice of how many test images to map: only sizes the test set has.

An 18-image folder was offered "10,000 test images"; now it is offered "all 18 test images",
a set of 3,000 "1,000", "2,000" and "all 3,000". Before a folder is loaded its size is
unknown, and the bundled sizes are offered until a Compute tells (the view refills then).
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

COUNTS = (1000, 2000, 5000, 10000)


def count_choices(total: int | None) -> list[tuple[str, int]]:
    """(text, count) for a test set of ``total`` images (None: not known yet)."""
    if total is None:
        return [(f"{n:,} test images", n) for n in COUNTS]
    total = max(int(total), 0)
    image = "image" if total == 1 else "images"
    return [(f"{n:,} test images", n) for n in COUNTS if n < total] + [(f"all {total:,} test {image}", total)]


def fill_counts(combo: QComboBox, total: int | None) -> None:
    """Offer ``count_choices(total)``; the count chosen before stays chosen where it still is
    offered, else the largest up to 10,000."""
    chosen = combo.currentData()
    choices = count_choices(total)
    if [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())] == choices:
        return
    combo.blockSignals(True)
    combo.clear()
    for text, n in choices:
        combo.addItem(text, n)
    index = combo.findData(chosen)
    if index < 0:  # the largest up to 10,000 (a few seconds on one CPU thread)
        index = max(i for i, (_, n) in enumerate(choices) if n <= max(COUNTS) or i == 0)
    combo.setCurrentIndex(index)
    combo.blockSignals(False)
