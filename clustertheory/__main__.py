"""``python -m clustertheory ...``: the same command line as the ``clustertheory`` entry point."""

import sys

from clustertheory.cli import main

sys.exit(main())
