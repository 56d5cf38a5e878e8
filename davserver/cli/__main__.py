"""`python -m davserver.cli`."""

import sys

from davserver.cli.main import main

sys.exit(main())
