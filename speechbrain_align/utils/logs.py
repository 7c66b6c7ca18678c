"""Logging settings for scripts, applied by their entry point rather than at import.

Importing :mod:`speechbrain_align` leaves the logging configuration alone.
:func:`quiet_library_loggers` is called by
:func:`speechbrain_align.utils.errors.run_main`, the entry point of every
recipe and command line of this package; a script of yours that drives the
library directly can call it too.
"""

import logging

# faiss logs its CPU-feature probing (failed AVX512/AVX2 imports) at INFO,
# which reads like an error in a recipe's log; gensim logs every training
# epoch's progress at INFO.
QUIET_LOGGERS = {"faiss.loader": logging.WARNING, "gensim": logging.WARNING}


def quiet_library_loggers():
    """Raise the level of the :data:`QUIET_LOGGERS` (third-party loggers that are noisy at INFO).

    Example
    -------
    >>> quiet_library_loggers()
    >>> logging.getLogger("faiss.loader").level == logging.WARNING
    True
    """
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
