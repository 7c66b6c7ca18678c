"""Word boundaries and phones from espeak-ng's events, and one utterance's audio.

A WORD event marks the sample where each word starts; PHONEME events mark the
start of every phone and pause, so a word ENDS where the first pause after its
last phone starts, or, when there is no pause, where the next word starts.
WORD events that espeak-ng gave to several tokens (``in the``) are split at
the phone count each token has on its own. :func:`synthesize_utterance`
speaks tokens and returns 16 kHz audio with the boundaries in its samples.
"""

import numpy as np

SAMPLE_RATE = 16000
# Phone mnemonics that are markers rather than phones (kept out of ``phones``).
_NOT_PHONES = {";"}


def _is_pause(name):
    return name.startswith("_")


def word_boundaries(tokens, audio_len, events, token_phones=None):
    """Word ``(start, end, phones)`` in samples from espeak-ng events.

    Arguments
    ---------
    tokens : list of str
        The words spoken, joined by single spaces in the synthesised text.
    audio_len : int
        Number of samples synthesised.
    events : list
        As returned by :meth:`Espeak.synth`.
    token_phones : callable, optional
        ``token -> list of phone mnemonics`` when spoken alone; used to split
        a WORD event that espeak-ng gave to several tokens (``in the``).
        Without it, such groups are split evenly over their phones.

    Returns
    -------
    list of ``(start, end, phones)`` with one entry per token, or ``None``
    when the events cannot be matched to the tokens.

    Example
    -------
    >>> ev = [("word", 0, 1, 2), ("phone", 0, 1, "'h"), ("phone", 50, 1, "aI"),
    ...       ("word", 90, 4, 2), ("phone", 90, 4, "j"), ("phone", 120, 4, "u:"),
    ...       ("phone", 150, 6, "_:"), ("end", 200, 6, None)]
    >>> word_boundaries(["hi", "you"], 200, ev)
    [(0, 90, ["'h", 'aI']), (90, 150, ['j', 'u:'])]
    >>> ev[3:5] = [("word", 90, 4, 2), ("phone", 90, 4, "_"), ("phone", 110, 4, "j")]
    >>> word_boundaries(["hi", "you"], 200, ev)
    [(0, 90, ["'h", 'aI']), (110, 150, ['j', 'u:'])]
    """
    # Character offset (1-based) where each token starts in the spoken text.
    starts, pos = [], 1
    for tok in tokens:
        starts.append(pos)
        pos += len(tok) + 1

    def token_at(char_pos):
        # Index of the token whose span contains char_pos.
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= char_pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # Group events by WORD event: each group = [first token, sample, items].
    groups = []
    end_sample = audio_len
    for kind, sample, text_pos, value in events:
        if kind == "word":
            tok = token_at(text_pos)
            if groups and groups[-1][0] == tok:
                continue  # one token spoken as two words: keep together
            if groups and tok < groups[-1][0]:
                return None
            groups.append([tok, sample, []])
        elif kind == "phone" and groups:
            groups[-1][2].append((sample, value))
        elif kind == "end":
            end_sample = min(end_sample, sample) if sample > 0 else end_sample
    if not groups or groups[0][0] != 0:
        return None

    # Pauses that espeak-ng puts after a WORD event (rare) belong before the
    # word: it starts at its first phone, and the previous word ends at the
    # first of those pauses.
    lead_pause = []
    for g, (tok, start, items) in enumerate(groups):
        k = 0
        while k < len(items) and _is_pause(items[k][1]):
            k += 1
        lead_pause.append(items[0][0] if k else None)
        if k and k < len(items):
            groups[g][1] = items[k][0]
        groups[g][2] = items[k:]
    out = []
    for g, (tok, start, items) in enumerate(groups):
        if g + 1 < len(groups):
            next_start = groups[g + 1][1]
            if lead_pause[g + 1] is not None:
                next_start = lead_pause[g + 1]
            last_tok = groups[g + 1][0]
        else:
            next_start, last_tok = end_sample, len(tokens)
        # Trailing pauses end the word.
        stop = next_start
        while items and _is_pause(items[-1][1]):
            stop = items[-1][0]
            items = items[:-1]
        n_tok = last_tok - tok
        if sum(1 for _, name in items if name not in _NOT_PHONES) < n_tok:
            return None
        if n_tok == 1:
            pieces = [items]
        else:
            pieces = _split_phones(tokens[tok:last_tok], items, token_phones)
        for k, piece in enumerate(pieces):
            p_start = start if k == 0 else piece[0][0]
            p_stop = pieces[k + 1][0][0] if k + 1 < len(pieces) else stop
            phones = [name for _, name in piece if name not in _NOT_PHONES]
            out.append((int(p_start), int(p_stop), phones))
    if len(out) != len(tokens) or any(e <= s for s, e, _ in out):
        return None
    return out


def _bare(phone):
    """A phone mnemonic without its stress marks."""
    return phone.lstrip("',%=")


def _split_phones(tokens, items, token_phones):
    """Split one WORD event's phone events over several tokens.

    Each token gets as many phones as it has when spoken alone. When the
    merged pronunciation has another number of phones (linking ``r``,
    reduced vowels), every cut is placed near its proportional position, at
    the candidate whose neighbouring phones best match the isolated
    pronunciations (last phone of the word before, first of the word after).

    Example
    -------
    >>> iso = {"from": ["f", "r", "'0", "m"], "where": ["w", "'e@"]}.get
    >>> items = [(i, p) for i, p in enumerate(["f", "r", "V", "m", "w", "'e@", "r"])]
    >>> [[p for _, p in piece] for piece in _split_phones(["from", "where"], items, iso)]
    [['f', 'r', 'V', 'm'], ['w', "'e@", 'r']]
    """
    n = len(tokens)
    real = [i for i, (_, name) in enumerate(items) if name not in _NOT_PHONES]
    names = [items[i][1] for i in real]
    total = len(real)
    iso = [list(token_phones(t)) if token_phones else [] for t in tokens]
    counts = [max(1, len(p)) for p in iso]
    cuts, acc = [], 0  # cut k = index (in real phones) where token k+1 starts
    if sum(counts) == total:
        for c in counts[:-1]:
            acc += c
            cuts.append(acc)
    else:
        scale = total / float(sum(counts))
        for k in range(n - 1):
            acc += counts[k]
            expected = acc * scale
            lo = (cuts[-1] + 1) if cuts else 1
            hi = total - (n - 1 - k)
            best, best_score = None, None
            for cut in range(max(lo, int(expected) - 2), min(hi, int(expected) + 3) + 1):
                score = -abs(cut - expected)
                if iso[k] and _bare(names[cut - 1]) == _bare(iso[k][-1]):
                    score += 1.0
                if iso[k + 1] and _bare(names[cut]) == _bare(iso[k + 1][0]):
                    score += 1.0
                if best_score is None or score >= best_score:  # ties: later cut
                    best, best_score = cut, score
            cuts.append(min(max(best if best is not None else lo, lo), hi))
    # Markers such as ";" stay with the phone before them.
    starts = [0] + [real[c] for c in cuts] + [len(items)]
    return [items[starts[k]:starts[k + 1]] for k in range(n)]


def _isolated_phones(engine):
    """``token -> phones of the token spoken alone`` (cached) for one voice."""
    cache = {}

    def phones(token):
        if token not in cache:
            cache[token] = [p for w in engine.phonemes(token) for p in w
                            if not _is_pause(p) and p not in _NOT_PHONES]
        return cache[token]

    return phones


def synthesize_utterance(engine, tokens, sample_rate=SAMPLE_RATE):
    """Speak ``tokens`` with the engine's current voice.

    Returns ``(float32 audio at sample_rate, [(start, end, phones), ...])``
    with boundaries in samples of the returned audio, or ``None`` if espeak-ng's
    events could not be matched to the tokens.
    """
    from speechbrain_align.dataio.audio import resample

    audio, events = engine.synth(" ".join(tokens))
    bounds = word_boundaries(tokens, len(audio), events, _isolated_phones(engine))
    if bounds is None:
        return None
    signal = audio.astype(np.float32) / 32768.0
    if engine.sample_rate != sample_rate:
        signal = resample(signal, engine.sample_rate, sample_rate)
        ratio = sample_rate / engine.sample_rate
        n = len(signal)
        bounds = [
            (min(n, int(round(s * ratio))), min(n, int(round(e * ratio))), ph)
            for s, e, ph in bounds
        ]
    return signal, bounds
