import sys

from difychat.cli import main

sys.exit(main())
