"""`python -m alluse.cli`, as the tests and benchmarks run the command."""

import sys

from alluse.cli import main

sys.exit(main())
