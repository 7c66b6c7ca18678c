"""Re-segmentation baselines for word segments.

:func:`equal_chunks` is the paper's "equal-size chunks" baseline: each
utterance is cut into as many chunks of equal duration as it has words, ignoring
the real word boundaries, and each chunk takes the label of the word it
overlaps most. Speech2Vec trained on these chunks, then averaged by label,
shows what true word boundaries are worth.
"""

import logging

from speechbrain_align.dataio.manifest import ManifestError, Segment, group_by_utterance

logger = logging.getLogger(__name__)


def equal_chunks(rows, source="manifest"):
    """Equal-duration chunks, one per word, over each utterance's word span.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (from :func:`read_segment_manifest`). The utterance span
        runs from its first word's start to its last word's stop.
    source : str
        Name used in error messages.

    Returns
    -------
    list of Segment, IDs ``<utt_id>_c<i:04d>``, positions 0..n-1; each has
    ``extra["overlap"]``, the fraction of the chunk covered by its label word.

    Example
    -------
    >>> rows = [dict(ID="u_0", wav="a.wav", start=0.0, stop=0.1, word="a",
    ...              spk_id="s", utt_id="u", position=0),
    ...         dict(ID="u_1", wav="a.wav", start=0.1, stop=0.6, word="bb",
    ...              spk_id="s", utt_id="u", position=1)]
    >>> chunks = equal_chunks(rows)
    >>> [(c.ID, c.start, c.stop, c.word) for c in chunks]
    [('u_c0000', 0.0, 0.3, 'bb'), ('u_c0001', 0.3, 0.6, 'bb')]
    """
    out = []
    for utt_id, utt_rows in group_by_utterance(rows).items():
        wavs = {r["wav"] for r in utt_rows}
        if len(wavs) != 1:
            raise ManifestError(
                f"{source}: utterance {utt_id!r} spans several audio files {sorted(wavs)}"
            )
        begin = min(r["start"] for r in utt_rows)
        end = max(r["stop"] for r in utt_rows)
        n = len(utt_rows)
        size = (end - begin) / n
        for i in range(n):
            start = begin + i * size
            stop = end if i == n - 1 else begin + (i + 1) * size
            best, best_overlap = None, 0.0
            for r in utt_rows:
                overlap = min(stop, r["stop"]) - max(start, r["start"])
                if overlap > best_overlap:
                    best, best_overlap = r, overlap
            word = best["word"] if best is not None else ""
            seg = Segment(
                wav=utt_rows[0]["wav"],
                start=round(start, 6),
                stop=round(stop, 6),
                word=word,
                spk_id=utt_rows[0]["spk_id"],
                utt_id=utt_id,
                position=i,
                ID=f"{utt_id}_c{i:04d}",
                extra={"overlap": f"{best_overlap / (stop - start):.3f}"},
            )
            out.append(seg)
    return out
