"""``python -m tinkex.codegen``: the same as the ``tinkex-codegen`` command."""

import sys

from . import main

sys.exit(main())
