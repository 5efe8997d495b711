"""``python -m cplus_edu.voc`` (and ``torchrun ... -m cplus_edu.voc``): see ``voc.cli``."""

import sys

from cplus_edu.voc.cli import main

if __name__ == "__main__":
    sys.exit(main())
