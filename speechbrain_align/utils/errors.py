"""User errors: one clear message and a non-zero exit; tracebacks only for bugs.

Every error this package raises for a user's mistake (a bad file, line,
option or value) derives from :class:`UserError` (as a mixin beside its
usual base, e.g. ``class ManifestError(UserError, ValueError)``). Scripts
run their ``main`` through :func:`run_main`, which prints such errors as one
``error: ...`` line and exits with status 1; anything else (a bug) keeps its
traceback.

Recipes load their YAML with :func:`load_recipe_hparams`, which names the
key of a bad command-line override (``--number_of_epochs=abc``), an unknown
key, a malformed YAML file, and an epoch counter with no epoch to train.
"""

import io
import logging
import os
import re
import sys

import yaml

logger = logging.getLogger(__name__)

EXIT_USER_ERROR = 1


class UserError(Exception):
    """Base of the errors caused by a user's input; the message says what and where.

    Example
    -------
    >>> class MyInputError(UserError, ValueError):
    ...     pass
    >>> isinstance(MyInputError("x.csv:3: bad"), ValueError)
    True
    """


class HparamsError(UserError, ValueError):
    """A recipe's YAML file or one of its command-line overrides is wrong."""


class DamagedFileError(UserError, ValueError):
    """A data file (array, archive, model) is truncated, damaged or of another format."""


class StepFailed(UserError, RuntimeError):
    """A child command failed; it has printed its own error."""


def _os_error_message(err):
    """``path: reason`` for an OSError that names a file, else None."""
    name = getattr(err, "filename", None)
    if name is None:
        return None
    reason = err.strerror or str(err)
    other = getattr(err, "filename2", None)
    return f"{name}: {reason}" + (f" (-> {other})" if other else "")


def user_error_message(err):
    """The one-line message for ``err`` if it is a user error, else None.

    User errors are :class:`UserError` s and operating-system errors that
    name a file (missing input, no permission, a folder where a file was
    expected, a full disk).

    Example
    -------
    >>> user_error_message(HparamsError("a.yaml: --n=abc: expected an integer"))
    'a.yaml: --n=abc: expected an integer'
    >>> user_error_message(FileNotFoundError(2, "No such file or directory", "x.csv"))
    'x.csv: No such file or directory'
    >>> user_error_message(KeyError("bug")) is None
    True
    """
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, OSError):
        return _os_error_message(err)
    return None


def run_main(main, argv=None, prog=None):
    """Run ``main(argv)``; print user errors as ``error: ...`` and return the exit code.

    Use as ``sys.exit(run_main(main))`` in a script. Bugs (any other
    exception) propagate with their traceback. ``main`` may return an exit
    code (anything but an int counts as 0). Quiets noisy library loggers
    first (:func:`speechbrain_align.utils.logs.quiet_library_loggers`).

    Example
    -------
    >>> def main(argv):
    ...     raise HparamsError(f"{argv[0]}: --lr=fast: expected a number")
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     code = run_main(main, ["train.yaml"], prog="train.py")
    >>> code, err.getvalue()
    (1, 'train.py: error: train.yaml: --lr=fast: expected a number\\n')
    """
    from speechbrain_align.utils.logs import quiet_library_loggers

    quiet_library_loggers()
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or os.path.basename(sys.argv[0] or "") or "error"
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - sorted below: user errors vs bugs
        message = user_error_message(err)
        if message is None:
            raise
        logger.debug("user error", exc_info=True)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    return code if isinstance(code, int) else 0


# ---------------------------------------------------------------- hparams


class _Tagged:
    """A HyperPyYAML tagged node (``!new:``, ``!ref`` ...) seen by the plain loader."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class _PlainLoader(yaml.SafeLoader):
    """Reads a HyperPyYAML file as plain YAML, keeping tagged nodes as :class:`_Tagged`."""


def _construct_tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return _Tagged("!" + suffix, value)


_PlainLoader.add_multi_constructor("!", _construct_tagged)


def plain_defaults(text, source="hparams"):
    """The YAML's values without building objects (tags kept as markers).

    Raises :class:`HparamsError` naming ``source`` and the line of a YAML
    syntax error.
    """
    try:
        data = yaml.load(text, Loader=_PlainLoader)
    except yaml.YAMLError as err:
        raise HparamsError(f"{source}: not valid YAML ({_yaml_where(err)})") from None
    return data if isinstance(data, dict) else {}


def _yaml_where(err):
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def _kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return None


_EXPECTED = {"bool": "True or False", "int": "an integer", "float": "a number"}


def check_overrides(defaults, overrides, source="hparams", prefix=""):
    """Check each override against the YAML's value of the same key.

    An unknown top-level key, or a value of another kind than a numeric or
    boolean default (``abc`` for an integer, ``2.5`` for an integer, ``yes``
    for a number) raises :class:`HparamsError` naming the key. Keys whose
    default is a string, null, a list or an object accept anything.

    Example
    -------
    >>> check_overrides({"n": 4, "lr": 0.1, "name": "x"}, {"lr": 1, "name": 3})
    >>> try:
    ...     check_overrides({"n": 4}, {"n": "abc"}, "a.yaml")
    ... except HparamsError as err:
    ...     print(err)
    a.yaml: --n='abc': expected an integer (the YAML's value is 4)
    """
    for key, value in (overrides or {}).items():
        name = f"{prefix}{key}"
        if key not in defaults:
            if prefix:
                continue  # nested keys may be added (HyperPyYAML merges them)
            known = ", ".join(sorted(str(k) for k in defaults if not str(k).startswith("__"))[:40])
            raise HparamsError(f"{source}: --{name}: no such key (the YAML has: {known})")
        default = defaults[key]
        if isinstance(default, dict) and isinstance(value, dict):
            check_overrides(default, value, source, prefix=name + ".")
            continue
        kind = _kind(default)
        if kind is None or value is None and kind != "bool":
            continue
        got = _kind(value)
        ok = got == kind or (kind == "float" and got == "int")
        if not ok:
            raise HparamsError(
                f"{source}: --{name}={value!r}: expected {_EXPECTED[kind]} "
                f"(the YAML's value is {default!r})"
            )


def _parse_overrides(overrides, source):
    if overrides is None or isinstance(overrides, dict):
        return dict(overrides or {})
    try:
        parsed = yaml.safe_load(overrides) if overrides.strip() else {}
    except yaml.YAMLError as err:
        raise HparamsError(f"{source}: bad command-line overrides ({_yaml_where(err)})") from None
    if not isinstance(parsed, dict):
        raise HparamsError(f"{source}: overrides must be key: value pairs, got {overrides!r}")
    return parsed


def check_epoch_counters(hparams, defaults, source="hparams"):
    """Every ``EpochCounter`` of ``hparams`` must allow at least one epoch.

    The message names the key the limit comes from (e.g. ``number_of_epochs``
    when the YAML says ``limit: !ref <number_of_epochs>``).
    """
    from speechbrain.utils.epoch_loop import EpochCounter

    for key, obj in hparams.items():
        if not isinstance(obj, EpochCounter):
            continue
        limit = obj.limit
        if isinstance(limit, int) and limit >= 1:
            continue
        name = f"{key}.limit"
        node = defaults.get(key)
        if isinstance(node, _Tagged) and isinstance(node.value, dict):
            ref = node.value.get("limit")
            if isinstance(ref, _Tagged) and isinstance(ref.value, str):
                name = ref.value.strip().strip("<>")
        raise HparamsError(
            f"{source}: --{name}={limit!r}: the number of epochs must be at least 1"
        )


def load_recipe_hparams(hparams_file, overrides=None):
    """Load a recipe's HyperPyYAML file with checked overrides.

    Errors a user can make become :class:`HparamsError` naming the file and
    key: a missing or malformed YAML file, an unknown override key, a value
    of the wrong kind for a numeric/boolean key, an epoch limit below 1, and
    any error raised while building the YAML's objects from an overridden
    value.

    Arguments
    ---------
    hparams_file : str
        The YAML file.
    overrides : str or dict, optional
        As returned by ``speechbrain.parse_arguments``.

    Returns
    -------
    dict
        The loaded hyperparameters.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("n: 4\\nc: !new:speechbrain.utils.epoch_loop.EpochCounter\\n"
    ...                           "    limit: !ref <n>\\n")
    >>> load_recipe_hparams(path, "n: 2")["c"].limit
    2
    >>> try:
    ...     load_recipe_hparams(path, "n: -1")
    ... except HparamsError as err:
    ...     print(str(err).replace(path, "h.yaml"))
    h.yaml: --n=-1: the number of epochs must be at least 1
    """
    from hyperpyyaml import load_hyperpyyaml

    source = os.fspath(hparams_file)
    try:
        with open(source, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise HparamsError(f"{source}: cannot read the hyperparameter file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise HparamsError(f"{source}:{line}: not valid UTF-8 text") from None
    defaults = plain_defaults(text, source)
    parsed = _parse_overrides(overrides, source)
    check_overrides(defaults, parsed, source)
    stream = io.StringIO(text)
    stream.name = source  # HyperPyYAML resolves !include: next to the file
    try:
        hparams = load_hyperpyyaml(stream, parsed)
    except yaml.YAMLError as err:
        raise HparamsError(f"{source}: not valid YAML ({_yaml_where(err)})") from None
    except (TypeError, ValueError) as err:
        placeholder = re.match(r"'(\w+)' is a !PLACEHOLDER", str(err))
        if placeholder:
            key = placeholder.group(1)
            raise HparamsError(f"{source}: {key} has no value: pass --{key}=...") from None
        if not parsed:
            raise
        keys = ", ".join(f"--{k}" for k in parsed)
        raise HparamsError(
            f"{source}: building the YAML's objects failed with overrides {keys}: {err}"
        ) from err
    check_epoch_counters(hparams, defaults, source)
    return hparams
