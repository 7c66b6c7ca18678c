"""Write an aligned-space folder that :class:`~speechbrain_align.inference.pretrained.AlignedSpace` loads.

After the speech and text spaces are aligned, everything needed to answer a
query goes into one folder: the parameter files (``<loadable>.ckpt``, see
``aligned_space.yaml`` next to this module) and ``hyperparams.yaml``, which is
that template with its ``!PLACEHOLDER`` keys overridden on the YAML tree
(:func:`~speechbrain_align.utils.yaml_nodes.fill_yaml`) by the encoder's and feature extractor's ``!new:`` nodes, sizes,
languages and settings. Every file is written atomically and
``hyperparams.yaml`` last (a stale one is removed first), so a folder with
``hyperparams.yaml`` is complete.

* :func:`export_speech2vec_space` takes the encoder from a finished Speech2Vec
  recipe run: the ``speech2vec`` and ``feature_extractor`` nodes of its
  ``hyperparams.yaml``, the best checkpoint's weights and the saved feature
  statistics (nothing listed by hand);
* :func:`export_aligned_space` takes an encoder module with its constructor
  arguments (or its YAML node) and a feature extractor.
"""

import json
import os

import numpy as np
import torch
from ruamel.yaml import YAML

from speechbrain_align.alignment.normalization import as_steps
from speechbrain_align.dataio.vectors import Embeddings, save_binary
from speechbrain_align.inference.loadables import save_module_state
from speechbrain_align.retrieval.search import as_matrix
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write, load_torch_file
from speechbrain_align.utils.yaml_nodes import fill_yaml, new_node, ref_node, tag_of

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aligned_space.yaml")
FOREIGN_KEYS = ("foreign_vectors", "foreign_mapping", "foreign_dim")
FEATURES_CLASS = "speechbrain_align.speech.features.FeatureExtractor"


class ExportError(UserError, ValueError):
    """An aligned space cannot be exported from the given run; the message names the file or key."""


# ------------------------------------------------------------ inputs


def _as_embeddings(emb, name):
    if isinstance(emb, Embeddings):
        return emb
    if isinstance(emb, tuple) and len(emb) == 2:
        return Embeddings(emb[0], emb[1])
    raise TypeError(f"{name}: expected Embeddings or (words, vectors), got {type(emb).__name__}")


def _feature_state(features):
    """(options, saved dict) of a FeatureExtractor, its saved dict or JSON file."""
    if isinstance(features, (str, os.PathLike)):
        path = os.fspath(features)
        try:
            with open(path, encoding="utf-8") as handle:
                features = json.load(handle)
        except (OSError, ValueError) as err:
            raise ExportError(f"{path}: not a readable feature-extractor file ({err})") from err
    elif not isinstance(features, dict):  # a FeatureExtractor
        features = {
            "options": features.options,
            "norm": features.norm,
            "mean": None if features.mean is None else np.asarray(features.mean).tolist(),
            "std": None if features.std is None else np.asarray(features.std).tolist(),
        }
    if features.get("mean") is None or features.get("std") is None:
        raise ValueError("features: normalisation statistics (mean, std) are missing")
    return dict(features["options"]), features


# ------------------------------------------------------------ writing


def _write_space(folder, encoder_node, encoder_state, feature_node, features, speech_vectors,
                 mapping, text_vectors, foreign_vectors, foreign_mapping, normalize, language,
                 foreign_language, csls_k):
    """Check the inputs, write every ``.ckpt`` then ``hyperparams.yaml``; returns its path."""
    from speechbrain_align.speech.features import FeatureExtractor

    options, saved = _feature_state(features)
    speech = _as_embeddings(speech_vectors, "speech_vectors")
    text = _as_embeddings(text_vectors, "text_vectors")
    weight = as_matrix(mapping, "mapping")
    if weight.shape != (text.dim, speech.dim):
        raise ValueError(
            f"mapping has shape {weight.shape}, expected (text_dim, speech_dim) = "
            f"({text.dim}, {speech.dim})"
        )
    if foreign_mapping is not None and foreign_vectors is None:
        raise ValueError("foreign_mapping given without foreign_vectors")
    foreign = None if foreign_vectors is None else _as_embeddings(foreign_vectors, "foreign_vectors")
    foreign_weight = None if foreign_mapping is None else as_matrix(foreign_mapping, "foreign_mapping")
    if foreign_weight is not None and foreign_weight.shape != (foreign.dim, speech.dim):
        raise ValueError(
            f"foreign_mapping has shape {foreign_weight.shape}, expected "
            f"({foreign.dim}, {speech.dim})"
        )
    if foreign is not None and foreign_weight is None and foreign.dim != text.dim:
        raise ValueError(f"foreign_vectors have dimension {foreign.dim}, expected {text.dim}")

    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    hparams_path = os.path.join(folder, "hyperparams.yaml")
    if os.path.exists(hparams_path):  # the folder is incomplete until the new one is written
        os.remove(hparams_path)

    def ckpt(name):
        return os.path.join(folder, f"{name}.ckpt")

    save_module_state(encoder_state, ckpt("encoder"))
    extractor = FeatureExtractor(mean=saved["mean"], std=saved["std"],
                                 norm=saved.get("norm", "global"), **options)
    extractor.save(ckpt("feature_extractor"))
    save_binary(speech, ckpt("speech_vectors"))
    save_binary(text, ckpt("text_vectors"))
    save_module_state({"weight": torch.from_numpy(weight)}, ckpt("mapping"))
    values = {
        "language": language, "foreign_language": foreign_language,
        "normalize": as_steps(normalize), "csls_k": int(csls_k),
        "speech_dim": speech.dim, "text_dim": text.dim,
        "feature_extractor": feature_node, "encoder": encoder_node,
    }
    drop, unload = (), ()
    if foreign is None:
        drop = FOREIGN_KEYS
    else:
        save_binary(foreign, ckpt("foreign_vectors"))
        if foreign_weight is None:  # the foreign vectors live in the text space: search with W
            drop, unload = ("foreign_dim",), ("foreign_mapping",)
            values["foreign_mapping"] = ref_node("mapping")
        else:
            save_module_state({"weight": torch.from_numpy(foreign_weight)}, ckpt("foreign_mapping"))
            values["foreign_dim"] = foreign.dim
    with open(TEMPLATE, encoding="utf-8") as handle:
        text_yaml = fill_yaml(values, handle.read(), drop, unload, TEMPLATE)
    with atomic_write(hparams_path) as handle:
        handle.write(text_yaml)
    return hparams_path


def export_aligned_space(
    folder,
    encoder,
    encoder_hparams,
    features,
    speech_vectors,
    mapping,
    text_vectors,
    foreign_vectors=None,
    foreign_mapping=None,
    encoder_class=None,
    normalize=("unit", "center", "unit"),
    language="en",
    foreign_language=None,
    csls_k=10,
):
    """Write an aligned-space folder from an encoder module and its constructor arguments.

    Arguments
    ---------
    folder : str
        Output folder (created).
    encoder : torch.nn.Module or dict
        The trained speech encoder (e.g. ``Speech2Vec``) or its state_dict.
    encoder_hparams : dict
        Constructor keyword arguments of the encoder class, or the encoder's
        ``!new:`` node of a YAML (ruamel), which is copied as is.
    features : FeatureExtractor, dict or str
        The feature extractor with its training statistics, the dict it
        saves (``options``, ``norm``, ``mean``, ``std``) or that JSON file.
    speech_vectors : Embeddings
        Speech type vectors (one per word type), before normalisation, as
        given to the alignment (normalisation statistics, CSLS hubness).
    mapping : array, tensor or LinearMapping
        W of shape ``(text_dim, speech_dim)``; a speech vector x maps to x W^T.
    text_vectors : Embeddings
        Text vectors of the same language, before normalisation.
    foreign_vectors : Embeddings, optional
        Text vectors of the other language.
    foreign_mapping : array, optional
        Speech -> foreign map ``(foreign_dim, speech_dim)``; if None, the
        foreign vectors must live in the text space and ``mapping`` is used.
    encoder_class : str, optional
        Dotted class path; default: the class of ``encoder`` (a module).
    normalize : list of str
        Normalisation steps applied to every space before mapping.
    language, foreign_language : str
        Language codes, for display.
    csls_k : int
        Neighbourhood size of CSLS's hubness terms.

    Returns
    -------
    str : the path of ``hyperparams.yaml``.
    """
    if isinstance(encoder, torch.nn.Module):
        if encoder_class is None:
            encoder_class = f"{type(encoder).__module__}.{type(encoder).__qualname__}"
        state = encoder.state_dict()
    elif isinstance(encoder, dict):
        state = encoder
        if encoder_class is None and not tag_of(encoder_hparams):
            raise ValueError("encoder given as a state_dict: pass encoder_class too")
    else:
        raise TypeError(f"encoder: expected a torch module or state_dict, got {type(encoder)}")
    encoder_node = encoder_hparams if tag_of(encoder_hparams) else new_node(encoder_class, encoder_hparams)
    options, _ = _feature_state(features)
    return _write_space(
        folder, encoder_node, state, new_node(FEATURES_CLASS, options), features, speech_vectors,
        mapping, text_vectors, foreign_vectors, foreign_mapping, normalize, language,
        foreign_language, csls_k,
    )


def _first_dir(*candidates):
    for path in candidates:
        if path and os.path.isdir(os.fspath(path)):
            return os.fspath(path)
    return None


def export_speech2vec_space(
    folder,
    speech2vec_folder,
    speech_vectors,
    mapping,
    text_vectors,
    foreign_vectors=None,
    foreign_mapping=None,
    normalize=("unit", "center", "unit"),
    language="en",
    foreign_language=None,
    csls_k=10,
    model_key="speech2vec",
    min_key="loss",
):
    """Write an aligned-space folder whose encoder is a finished Speech2Vec recipe run.

    The encoder and feature extractor are the ``model_key`` and
    ``feature_extractor`` nodes of ``<speech2vec_folder>/hyperparams.yaml``
    (the copy the recipe saved, with its overrides), the weights those of the
    recipe checkpointer's best checkpoint (lowest ``min_key``), the feature
    statistics ``<save_folder>/feature_extractor.json``.

    Arguments
    ---------
    folder : str
        Output folder (created).
    speech2vec_folder : str
        The recipe's ``output_folder``.
    speech_vectors, mapping, text_vectors, foreign_vectors, foreign_mapping,
    normalize, language, foreign_language, csls_k
        As in :func:`export_aligned_space`.
    model_key : str
        The YAML key of the model (a checkpointer recoverable).
    min_key : str
        The checkpoint meta key to minimise.

    Returns
    -------
    str : the path of ``hyperparams.yaml``.
    """
    from speechbrain_align.utils.checkpoints import SafeCheckpointer

    run = os.fspath(speech2vec_folder)
    source = os.path.join(run, "hyperparams.yaml")
    if not os.path.isfile(source):
        raise ExportError(f"{source}: not found (is {run} a finished Speech2Vec run?)")
    with open(source, encoding="utf-8") as handle:
        tree = YAML().load(handle)
    for key in (model_key, "feature_extractor", "checkpointer"):
        if key not in tree:
            raise ExportError(f"{source}: no {key!r} key")
    recoverables = tree["checkpointer"].get("recoverables") or {}
    names = [name for name, node in recoverables.items() if node is tree[model_key]]
    if not names:
        raise ExportError(f"{source}: {model_key!r} is not a recoverable of the checkpointer")
    save = os.path.join(run, "save")
    ckpt_dir = _first_dir(tree["checkpointer"].get("checkpoints_dir"), save)
    checkpoint = SafeCheckpointer(ckpt_dir).find_checkpoint(min_key=min_key) if ckpt_dir else None
    if checkpoint is None:
        raise ExportError(f"{source}: no checkpoint with {min_key!r} in {ckpt_dir or save}")
    state = load_torch_file(checkpoint.paramfiles[names[0]], "Speech2Vec checkpoint")
    features = os.path.join(_first_dir(tree.get("save_folder"), save) or save, "feature_extractor.json")
    if not os.path.isfile(features):
        raise ExportError(f"{features}: not found (written by the Speech2Vec recipe)")
    return _write_space(
        folder, tree[model_key], state, tree["feature_extractor"], features, speech_vectors,
        mapping, text_vectors, foreign_vectors, foreign_mapping, normalize, language,
        foreign_language, csls_k,
    )
