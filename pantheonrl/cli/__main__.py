"""``python -m pantheonrl.cli``: the ``pantheonrl`` command."""

import sys

from pantheonrl.cli import main

if __name__ == "__main__":
    sys.exit(main())
