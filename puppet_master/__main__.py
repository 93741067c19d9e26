"""Allow `python -m puppet_master`."""

import sys

from .cli import main

sys.exit(main())
