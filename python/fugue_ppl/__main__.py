"""``python -m fugue_ppl``: the ``fugue-ppl`` command (see :mod:`fugue_ppl.cli`)."""

import sys

from fugue_ppl.cli import main

if __name__ == "__main__":
    sys.exit(main())
