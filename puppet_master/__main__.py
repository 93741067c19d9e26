"""Allow `python -m puppet_master`."""

import sys

from .cli import main
from .console import show_library_warnings

show_library_warnings()
sys.exit(main())
