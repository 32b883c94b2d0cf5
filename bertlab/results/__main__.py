import sys

from bertlab.results import main

sys.exit(main())
