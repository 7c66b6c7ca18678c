"""speechbrain-align: unsupervised cross-modal alignment of speech and text
embedding spaces (Chung et al., NeurIPS 2018) as a SpeechBrain plugin.

Sub-packages: ``dataio`` (manifests, corpora, dictionaries, vector files),
``nnet`` (torch modules), ``speech`` (Speech2Vec training helpers, word-type
vectors, unit skip-gram, diagnostics), ``text`` (text skip-gram vectors),
``alignment`` (adversarial mapping, Procrustes, refinement), ``retrieval``
(NN/CSLS search), ``evaluation`` (task metrics and tables), ``inference``.
"""

__version__ = "0.1.0"

import logging as _logging

# faiss logs its CPU-feature probing (failed AVX512/AVX2 imports) at INFO,
# which reads like an error in recipe logs.
_logging.getLogger("faiss.loader").setLevel(_logging.WARNING)
