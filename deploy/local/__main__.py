"""``python -m deploy.local``: see :mod:`deploy.local.deployment`."""

import sys

from deploy.local.deployment import main

sys.exit(main())
