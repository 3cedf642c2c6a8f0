from __future__ import annotations

import sys

from pixelproof.cli.main import main

sys.exit(main())
