from fugue_ppl._distributions import *  # noqa
