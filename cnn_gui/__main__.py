import sys

from cnn_gui.cli import main

sys.exit(main())
