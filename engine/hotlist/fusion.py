"""The second opinion's fusion with the primary evidence, fitted by
`python -m platewatch.engine.bench.evidence_fit --fusion` on the alerts bench's selection half.
Generated: refit rather than edit (docs/hotlist.md, "The second opinion").
"""

#: P(entry is the plate) = sigmoid(w . (1, logit(primary evidence), clipped log P2(entry) - log P2(read),
#: clipped log P2(entry))); None: not fitted, the primary evidence stands
WEIGHTS: tuple[float, float, float, float] | None = None
