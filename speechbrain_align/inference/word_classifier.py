"""A trained word classifier as a folder that SpeechBrain's ``EncoderClassifier`` loads.

After testing, the classification recipes write the best checkpoint to
``export_folder`` with :func:`export_word_classifier`; then::

    from speechbrain.inference.classifiers import EncoderClassifier
    classifier = EncoderClassifier.from_hparams(source=folder)
    log_probs, score, index, words = classifier.classify_file("yes.wav")

``EncoderClassifier`` runs ``compute_features`` -> ``mean_var_norm`` ->
``embedding_model`` -> ``classifier`` on 16 kHz audio (``load_audio``
resamples other rates and mixes channels down). Folder contents::

    hyperparams.yaml          the four modules, label_encoder, pretrainer
                              (written last: a folder with it is complete)
    <loadable>.ckpt           one per pretrainer loadable (weights, the
                              normalisation statistics, label_encoder)

What the four modules are depends on the recipe's ``input_type``:

* ``waveform``: the training YAML's own ``compute_features``,
  ``mean_var_norm``, ``embedding_model`` and ``classifier`` objects (copied
  from the YAML with every reference resolved);
* ``frames`` (BiLSTM): :class:`FrameFeatures` around the training
  ``feature_extractor``, :class:`FixedNormalization` with its statistics, and
  the ``model``'s two halves (:class:`ModelEmbedding`, :class:`ModelOutput`);
* ``image`` (MLP): :class:`LogMelImage`, no normalisation, and the model's halves.
  The image is computed on the whole signal, so classify one file (or
  equal-length signals) at a time.
"""

import io
import os

import numpy as np
import torch
from hyperpyyaml import resolve_references
from ruamel.yaml import YAML

from speechbrain_align.utils.files import atomic_save, atomic_write

SAMPLE_RATE = 16000
_EXPORTED = {
    "waveform": ("compute_features", "mean_var_norm", "embedding_model", "classifier"),
    "frames": ("feature_extractor", "model"),
    "image": ("model",),
}


class FrameFeatures(torch.nn.Module):
    """Unnormalised frames of a batch of signals, as the BiLSTM recipes computed them.

    Arguments
    ---------
    extractor : speechbrain_align.speech.features.FeatureExtractor

    Example
    -------
    >>> from speechbrain_align.speech.features import FeatureExtractor
    >>> FrameFeatures(FeatureExtractor(kind="fbank", n_mels=20))(torch.zeros(2, 3200)).shape
    torch.Size([2, 21, 20])
    """

    def __init__(self, extractor):
        super().__init__()
        self.extractor = extractor

    def forward(self, wavs):
        """``(batch, frames, dim)`` features of ``(batch, samples)`` 16 kHz signals."""
        feats = [torch.from_numpy(self.extractor.raw(w.detach().cpu().numpy())) for w in wavs]
        return torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(wavs.device)


class FixedNormalization(torch.nn.Module):
    """``(x - mean) / std`` with fixed statistics; the identity when they are None.

    Example
    -------
    >>> FixedNormalization([1.0, 2.0], [2.0, 1.0])(torch.ones(1, 1, 2), torch.ones(1)).tolist()
    [[[0.0, -1.0]]]
    """

    def __init__(self, mean=None, std=None):
        super().__init__()
        self.fixed = mean is not None
        if self.fixed:
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x, lengths=None):
        """Normalised ``x`` (``lengths`` is accepted for the EncoderClassifier call)."""
        return (x - self.mean) / self.std if self.fixed else x


class LogMelImage(torch.nn.Module):
    """The flattened resized log-Mel image of each signal (the MLP's input).

    Example
    -------
    >>> LogMelImage(n_mels=128, size=32)(torch.randn(2, 8000)).shape
    torch.Size([2, 1024])
    """

    def __init__(self, n_mels=128, size=32):
        super().__init__()
        self.n_mels, self.size = int(n_mels), int(size)

    def forward(self, wavs):
        """``(batch, size * size)`` images of ``(batch, samples)`` 16 kHz signals."""
        from speechbrain_align.speech.acoustic_image import logmel_image

        images = [logmel_image(w.detach().cpu().numpy(), n_mels=self.n_mels, size=self.size) for w in wavs]
        return torch.from_numpy(np.stack(images)).to(wavs.device)


class ModelEmbedding(torch.nn.Module):
    """``model.embed(x, lengths)``: the first half of a recipe model."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, lengths=None):
        """The embedding of features ``x`` with relative ``lengths``."""
        return self.model.embed(x, lengths)


class ModelOutput(torch.nn.Module):
    """``model.classify(embedding)``: the log-probabilities of a recipe model."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, embedding):
        """Log-probabilities ``(batch, n_classes)``."""
        return self.model.classify(embedding)


def _resolved_nodes(hparams_file, overrides, keys):
    """The YAML nodes of ``keys`` with every ``!ref`` resolved (tags kept)."""
    with open(hparams_file, encoding="utf-8") as handle:
        resolved = resolve_references(handle, overrides or {})
    tree = YAML().load(resolved)
    missing = [k for k in keys if k not in tree]
    if missing:
        raise KeyError(f"{hparams_file}: keys {missing} are needed to export the classifier")
    return {k: tree[k] for k in keys}


def _strip_comments(node):
    """Drop the training YAML's comments from a ruamel node tree (in place)."""
    if hasattr(node, "ca"):
        node.ca.comment = None
        node.ca.items.clear()
        if hasattr(node.ca, "end"):
            node.ca.end = None
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        _strip_comments(child)


def _dump(mapping):
    _strip_comments(mapping)
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.dump(mapping, stream)
    return stream.getvalue()


def _save_loadable(obj, path):
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook

    hook = get_default_hook(obj, DEFAULT_SAVE_HOOKS)
    if hook is None:
        raise TypeError(f"{path}: no SpeechBrain save hook for {type(obj).__name__}")
    atomic_save(path, lambda tmp: hook(obj, tmp))


def export_word_classifier(folder, hparams_file, overrides, brain, hparams):
    """Write the classifier held by ``brain`` as an ``EncoderClassifier`` folder.

    Arguments
    ---------
    folder : str
        Output folder (created; files are replaced atomically,
        ``hyperparams.yaml`` last).
    hparams_file : str
        The training YAML.
    overrides : dict
        Its overrides (with the final ``n_classes``).
    brain : ClassifierBrain
        Holding the weights to export (after ``evaluate``: the best checkpoint).
    hparams : dict
        The loaded training hparams (``input_type``, ``label_encoder``, and
        ``feature_extractor`` with its statistics for ``frames``).

    Returns
    -------
    str : the path of ``hyperparams.yaml``.
    """
    input_type = hparams["input_type"]
    if input_type not in _EXPORTED:
        raise ValueError(f"input_type {input_type!r} cannot be exported")
    os.makedirs(folder, exist_ok=True)
    nodes = _resolved_nodes(hparams_file, overrides, _EXPORTED[input_type])
    lines = [
        "# Word classifier for speechbrain.inference.classifiers.EncoderClassifier,",
        f"# exported from {os.path.abspath(hparams_file)} (input_type: {input_type}).",
        f"sample_rate: {SAMPLE_RATE}",
        f"n_classes: {len(hparams['label_encoder'])}",
        _dump(nodes).rstrip(),
    ]
    modules = brain.modules
    if input_type == "waveform":
        loadables = {name: modules[name] for name in ("mean_var_norm", "embedding_model", "classifier")}
    else:
        loadables = {"model": modules["model"]}
        if input_type == "frames":
            extractor = hparams["feature_extractor"]
            lines += [
                "compute_features: !new:speechbrain_align.inference.word_classifier.FrameFeatures",
                "    extractor: !ref <feature_extractor>",
                "mean_var_norm: !new:speechbrain_align.inference.word_classifier.FixedNormalization",
                f"    mean: {np.asarray(extractor.mean, dtype=float).tolist()}",
                f"    std: {np.asarray(extractor.std, dtype=float).tolist()}",
            ]
        else:
            lines += [
                "compute_features: !new:speechbrain_align.inference.word_classifier.LogMelImage",
                f"    n_mels: {int(hparams.get('n_mels_image', 128))}",
                f"    size: {int(hparams.get('image_size', 32))}",
                "mean_var_norm: !new:speechbrain_align.inference.word_classifier.FixedNormalization",
            ]
        lines += [
            "embedding_model: !new:speechbrain_align.inference.word_classifier.ModelEmbedding",
            "    model: !ref <model>",
            "classifier: !new:speechbrain_align.inference.word_classifier.ModelOutput",
            "    model: !ref <model>",
        ]
    loadables["label_encoder"] = hparams["label_encoder"]
    lines += [
        "label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder",
        "audio_normalizer: !new:speechbrain.dataio.preprocess.AudioNormalizer",
        "    sample_rate: !ref <sample_rate>",
        "modules:",
    ]
    lines += [f"    {m}: !ref <{m}>" for m in _EXPORTED["waveform"]]
    lines += ["pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer", "    loadables:"]
    lines += [f"        {name}: !ref <{name}>" for name in loadables]
    for name, obj in loadables.items():
        _save_loadable(obj, os.path.join(folder, f"{name}.ckpt"))
    path = os.path.join(folder, "hyperparams.yaml")
    with atomic_write(path) as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def load_word_classifier(folder, device="cpu"):
    """``EncoderClassifier.from_hparams`` on an exported folder (files read in place).

    Raises ``FileNotFoundError`` naming the folder when it holds no
    ``hyperparams.yaml`` (not exported, or an export cut short).
    """
    from speechbrain.inference.classifiers import EncoderClassifier

    folder = os.path.abspath(folder)
    if not os.path.isfile(os.path.join(folder, "hyperparams.yaml")):
        raise FileNotFoundError(f"{folder}: no hyperparams.yaml (not an exported word classifier)")
    classifier = EncoderClassifier.from_hparams(source=folder, run_opts={"device": device})
    classifier.hparams.label_encoder.expect_len(classifier.hparams.n_classes)
    return classifier
