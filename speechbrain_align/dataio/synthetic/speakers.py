"""Synthetic speakers (accent, voice variant, rate, pitch) and speaker-disjoint splits."""

import random

import numpy as np

from speechbrain_align.dataio.synthetic.passages import CorpusError

DEFAULT_SPLITS = (("train", 2 / 3), ("valid", 1 / 6), ("test", 1 / 6))

# Accents per language (espeak-ng voice names) and voice variants.
ACCENTS = {
    "en": [
        "en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp",
        "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
    ],
    "es": ["es", "es-419"],
}
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4"]


def make_speakers(n_speakers, lang="en", seed=1234):
    """``n_speakers`` distinct speaker descriptions drawn from ``seed``.

    Each is a dict with ``spk_id``, ``voice`` (accent + variant),
    ``rate`` (words per minute), ``pitch`` and ``range``.

    Example
    -------
    >>> spk = make_speakers(3, seed=1)
    >>> [s["spk_id"] for s in spk], len({s["voice"] for s in spk})
    (['spk000', 'spk001', 'spk002'], 3)
    >>> make_speakers(3, seed=1) == spk
    True
    """
    base = lang.split("-")[0]
    accents = ACCENTS.get(lang) or ACCENTS.get(base) or [lang]
    combos = [f"{a}+{v}" for a in accents for v in VARIANTS]
    if n_speakers < 1 or n_speakers > len(combos):
        raise CorpusError(
            f"n_speakers={n_speakers}: language {lang!r} offers 1..{len(combos)} voices"
        )
    rng = random.Random(seed)
    # Spread accents: shuffle within each accent, then interleave accents.
    per_accent = []
    for a in accents:
        vs = [f"{a}+{v}" for v in VARIANTS]
        rng.shuffle(vs)
        per_accent.append(vs)
    order = [vs[i] for i in range(len(VARIANTS)) for vs in per_accent]
    speakers = []
    for idx, voice in enumerate(order[:n_speakers]):
        speakers.append({
            "spk_id": f"spk{idx:03d}",
            "voice": voice,
            "rate": rng.randint(140, 190),
            "pitch": rng.randint(30, 70),
            "range": rng.randint(30, 80),
        })
    return speakers


def split_speakers(speakers, splits=DEFAULT_SPLITS, seed=1234):
    """Assign speakers to splits: ``{split: [spk_id, ...]}`` (disjoint).

    ``splits`` is a sequence of ``(name, amount)``; amounts are either all
    fractions (summing to about 1) or all integer counts. Every split gets at
    least one speaker.

    Example
    -------
    >>> spk = make_speakers(24)
    >>> {k: len(v) for k, v in split_speakers(spk).items()}
    {'train': 16, 'valid': 4, 'test': 4}
    """
    splits = list(splits)
    ids = [s["spk_id"] for s in speakers]
    n = len(ids)
    if n < len(splits):
        raise CorpusError(f"{n} speakers cannot fill {len(splits)} splits")
    amounts = [a for _, a in splits]
    if all(isinstance(a, int) for a in amounts):
        counts = list(amounts)
        if sum(counts) != n:
            raise CorpusError(f"split sizes {counts} do not add up to {n} speakers")
    else:
        total = float(sum(amounts))
        if total <= 0:
            raise CorpusError(f"bad split fractions {amounts}")
        counts = [max(1, int(round(n * a / total))) for a in amounts]
        while sum(counts) > n:
            counts[int(np.argmax(counts))] -= 1
        counts[0] += n - sum(counts)
    rng = random.Random(seed + 1)
    order = ids[:]
    rng.shuffle(order)
    out, i = {}, 0
    for (name, _), c in zip(splits, counts):
        out[name] = sorted(order[i:i + c])
        i += c
    return out
