"""The *Runs* tab: the recorded training runs of a folder, compared and followed live."""
