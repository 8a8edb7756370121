"""How a pass's frames are weighed together, fitted by
`python -m platewatch.engine.bench.evidence_fit --passes N` on the alerts bench's selection half
(docs/hotlist.md, "A pass's frames weighed together"). Generated: refit rather than edit.
"""

#: P(entry is the plate) = sigmoid(w . pass_evidence.pass_features(...)); None: the vote's evidence stands
WEIGHTS: tuple[float, ...] | None = None
