import sys

from voice_harness.tools.cli import main

sys.exit(main())
