"""`python -m agent.proxy`: the proxy process (see agent.proxy.runner)."""

import sys

from agent.proxy.runner import main

sys.exit(main())
