"""Allow `python -m puppet_master`."""

import sys

from .cli import main, show_library_warnings

show_library_warnings()
sys.exit(main())
