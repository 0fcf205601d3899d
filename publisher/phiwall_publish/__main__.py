"""`python -m phiwall_publish`: the same as `phiwall-publish`."""

import sys

from phiwall_publish.cli import main

sys.exit(main())
