"""How a pass's frames are weighed together, fitted by
`python -m platewatch.engine.bench.evidence_fit --passes 10000` on the alerts bench's selection half
(docs/hotlist.md, "A pass's frames weighed together"). Generated: refit rather than edit.

Shipped off. The last fit (6,475 weighed matches of provisional and final votes, 4,765 of them the
plate; weights (0.8715, -0.262, 2.4959, 0.0285, -1.0315) after the bias was moved by 5.981 so that
the fitted probability 0.8 met the default alert threshold) did not beat the vote's own evidence on
false alerts on the scoring half at 1,000,000 entries: 24 (11-52) false alerts per 10k passes at
99.27 % recall within one, against 20 (9-47) at 99.36 % for the vote alone; it cut false possible
matches from 112 (78-162) to 32 (16-63) per 10k, but doubled the matching's CPU time on a pass
(p99 about 710-830 us against 410-530 us, over the 500 us target). With WEIGHTS None the vote's
evidence stands and the matcher spends nothing on the frames.
"""

#: P(entry is the plate) = sigmoid(w . pass_evidence.pass_features(...)); None: the vote's evidence stands
WEIGHTS: tuple[float, ...] | None = None
#: the last fit's weights (on the alert scale), kept for a refit's comparison and the tests
LAST_FIT: tuple[float, ...] = (0.8715, -0.262, 2.4959, 0.0285, -1.0315)
