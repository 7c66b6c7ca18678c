"""speechbrain-align: unsupervised cross-modal alignment of speech and text
embedding spaces (Chung et al., NeurIPS 2018) as a SpeechBrain plugin.

Sub-packages: ``dataio`` (manifests, corpora, dictionaries, vector files),
``nnet`` (torch modules), ``speech`` (Speech2Vec training helpers, word-type
vectors, unit skip-gram, diagnostics), ``text`` (text skip-gram vectors),
``alignment`` (adversarial mapping, Procrustes, refinement), ``retrieval``
(NN/CSLS search), ``evaluation`` (task metrics and tables), ``inference``.

Importing the package does not configure logging or seed generators: scripts
set up logging in their entry point
(:func:`speechbrain_align.utils.errors.run_main`) and recipe YAMLs seed with
``__set_seed: !apply:speechbrain.utils.seed.seed_everything [!ref <seed>]``.
"""

__version__ = "0.1.0"
