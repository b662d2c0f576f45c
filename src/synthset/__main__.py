import sys

from synthset.cli import main

sys.exit(main())
