"""``python -m tinkex.cli``: the same as the ``tinkex`` console script."""

import sys

from tinkex.cli import main

if __name__ == "__main__":
    sys.exit(main())
