"""``python -m hmnet.cli`` (what ``accelerate launch -m hmnet.cli`` runs)."""

import sys

from hmnet.cli import main

sys.exit(main())
