"""``python -m codegen`` in a checkout runs ``tinkex-codegen`` (``tinkex.codegen``)."""

import sys

from tinkex.codegen import main

sys.exit(main())
