"""The second opinion's fusion with the primary evidence, fitted by
`python -m platewatch.engine.bench.evidence_fit --fusion` on the alerts bench's selection half
(docs/hotlist.md, "The second opinion"). Generated: refit rather than edit.

Shipped off. The last fit (1,978 checked matches, 1,180 of them the plate; weights
(8.916, 0.9549, 0.12, 0.6874, 2.1932, -0.1289, -0.2058, 0.1729)) did not beat the read's own
evidence on the scoring half at 1,000,000 entries: 70 (57-86) false alerts per 10k at 99.0 %
recall within one, against 76 (63-93) at 99.1 % without it, and at the false-alert target it
cost recall (94 % against 98 %). With WEIGHTS None the primary evidence stands and the match
agent does not load the second model.
"""

#: P(entry is the plate) = sigmoid(w . matcher.fusion_features(...)); None: the primary evidence stands
WEIGHTS: tuple[float, ...] | None = None
