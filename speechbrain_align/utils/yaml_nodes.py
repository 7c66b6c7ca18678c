"""HyperPyYAML files written from a template by overriding keys on the YAML tree.

:func:`fill_yaml` is HyperPyYAML's overrides applied with ruamel on the
document (tags such as ``!new:`` and ``!ref``, and comments, are kept) and
written back as text, for files that other code loads with
``load_hyperpyyaml`` (e.g. an exported ``hyperparams.yaml``); :func:`new_node`,
:func:`ref_node` and :func:`plain` build the values.
"""

import io

import numpy as np
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.tag import Tag


def _yaml():
    yaml = YAML()
    yaml.indent(mapping=4, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def tag_of(node):
    """The HyperPyYAML tag (``!new:...``, ``!ref`` ...) of a ruamel node, or None."""
    value = getattr(getattr(node, "tag", None), "value", None)
    return value if value and value.startswith("!") else None


def new_node(class_path, arguments):
    """A ``!new:<class_path>`` YAML node with constructor ``arguments`` (a dict).

    Example
    -------
    >>> print(fill_yaml({"m": new_node("torch.nn.Linear", {"in_features": 2})}, "m: !PLACEHOLDER"))
    m: !new:torch.nn.Linear
        in_features: 2
    <BLANKLINE>
    """
    node = CommentedMap((key, plain(value)) for key, value in (arguments or {}).items())
    node.yaml_set_ctag(Tag(suffix=f"!new:{class_path}"))
    return node


def ref_node(key):
    """A ``!ref <key>`` YAML node."""
    return TaggedScalar(f"<{key}>", tag="!ref")


def plain(value):
    """``value`` as plain YAML data: ruamel nodes keep their tags but lose
    anchors and comments; numpy values and tuples become Python scalars and lists."""
    if isinstance(value, dict):
        node = CommentedMap((key, plain(item)) for key, item in value.items())
        if tag_of(value):
            node.yaml_set_ctag(Tag(suffix=tag_of(value)))
        return node
    if isinstance(value, TaggedScalar):
        return TaggedScalar(str(value.value), tag=tag_of(value))
    if isinstance(value, (list, tuple, CommentedSeq)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (bool, np.bool_, ScalarBoolean)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if value is None:
        return None
    raise TypeError(f"cannot write a {type(value).__name__} into hyperparams.yaml")


def fill_yaml(values, text, drop=(), unload=(), source="template"):
    """``text`` (HyperPyYAML) with top-level keys overridden by ``values``.

    As HyperPyYAML's overrides, but on the YAML tree and returning text: the
    template's tags, references and comments are kept. Every ``!PLACEHOLDER``
    key must be given a value or dropped, and only existing keys may be given.
    ``drop`` removes top-level keys together with their entries in
    ``pretrainer``'s ``loadables`` and ``custom_hooks``; ``unload`` removes
    only those entries (the key stays, filled from elsewhere).

    Example
    -------
    >>> print(fill_yaml({"a": 2}, "a: !PLACEHOLDER\\nb: !ref <a>\\nc: !PLACEHOLDER", drop=["c"]))
    a: 2
    b: !ref <a>
    <BLANKLINE>
    """
    yaml = _yaml()
    tree = yaml.load(text)
    holes = {key for key, node in tree.items() if tag_of(node) == "!PLACEHOLDER"}
    unknown = sorted(set(values) - set(tree))
    if unknown:
        raise KeyError(f"{source}: {unknown} are not keys of the template")
    pretrainer = tree.get("pretrainer") or {}
    for key in (*drop, *unload):
        for part in ("loadables", "custom_hooks"):
            (pretrainer.get(part) or {}).pop(key, None)
    for key in drop:
        tree.pop(key, None)
    left = sorted(holes - set(values) - set(drop))
    if left:
        raise KeyError(f"{source}: placeholders {left} were not filled")
    for key, value in values.items():
        tree[key] = plain(value)
    stream = io.StringIO()
    yaml.dump(tree, stream)
    return stream.getvalue()
