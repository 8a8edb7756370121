"""The in-memory hotlist index: compact, sorted numpy keys instead of a dict of Python objects.

A naive dict of confusion-normalised keys plus deletion neighbourhoods was measured at ~1.2 GB and 22 s
to build for a million entries. Here each plate becomes integers:

- its *raw* form, 6 bits a character, to check exact equality;
- its *normalised* form (confusion classes, confusion.py), 5 bits a character, in a sorted uint64 array
  with the entry ids beside it: one binary search finds every entry equal up to confusions;
- its one-deletion neighbourhood, each variant tagged with the deleted position (bits 50..53) and
  bit 60, in the same sorted array, so one binary search serves all of a read's keys. Tagging the
  position turns the symmetric-delete trick into exactly "differs by one substitution at p"
  (del_p(K) == del_p(R)); insertions and deletions are found by looking the read's own form up among
  the deletions and its deletions up among the normalised forms. Nothing is ever scanned.

The arrays are built once from a full load (`build`) and are immutable; live changes go to small
overlay dicts and a tombstone bitmap until the next periodic reconcile builds a fresh index. Partial
patterns (few, witness reports) live in Python objects, found through an anchor on their literals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from platewatch.engine.plates import PLATE_ALPHABET

from .confusion import NORMAL_ALPHABET, normalise
from .entry import MAX_PLATE, ListSettings, is_pattern

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
POS_SHIFT = 50
DEL_TAG = 1 << 60  # deletion keys share one sorted array with normalised keys; this keeps them apart
_RAW_CODE = {c: i + 1 for i, c in enumerate(PLATE_ALPHABET)}
_NORM_CODE = {c: i + 1 for i, c in enumerate(NORMAL_ALPHABET)}
_RAW_CHAR = {v: k for k, v in _RAW_CODE.items()}
_RAW_LUT = np.zeros(256, dtype=np.uint64)
_NORM_LUT = np.zeros(256, dtype=np.uint64)
for _c in PLATE_ALPHABET:
    _RAW_LUT[ord(_c)] = _RAW_CODE[_c]
    _NORM_LUT[ord(_c)] = _NORM_CODE[normalise(_c)]


def raw_code(text: str) -> int:
    code = 0
    for i, c in enumerate(text):
        code |= _RAW_CODE[c] << (6 * i)
    return code


def norm_code(norm: str) -> int:
    """Packed normalised string (already normalised, no `?`), at most MAX_PLATE characters."""
    code = 0
    for i, c in enumerate(norm):
        code |= _NORM_CODE[c] << (5 * i)
    return code


def del_code(norm: str, position: int) -> int:
    """Key of `norm` with the character at `position` deleted, tagged with the position."""
    return norm_code(norm[:position] + norm[position + 1 :]) | (position << POS_SHIFT) | DEL_TAG


def decode_raw(code: int) -> str:
    out = []
    while code:
        out.append(_RAW_CHAR[code & 63])
        code >>= 6
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as the matcher sees it; `fields` are the validated hash fields."""

    key: str
    list_name: str
    text: str
    fields: dict[str, str]


@dataclass(slots=True)
class _Extra:
    key: str
    list_id: int
    text: str
    payload: bytes


Anchor = tuple[str, int, int, str]  # (kind, fixed length, offset, gram)
Shape = tuple[str, int, int, int]  # (kind, fixed length, offset, gram length)


def _longest_run(segment: str) -> tuple[int, str]:
    best_at, best, at, run = 0, "", 0, ""
    for i, c in enumerate(segment + "?"):
        if c == "?":
            if len(run) > len(best):
                best_at, best = at, run
            run, at = "", i + 1
        else:
            run += c
    return best_at, best


def pattern_anchor(pattern: str) -> Anchor:
    """Where a partial pattern's most telling literals sit, in normalised form (see `pattern_ids`)."""
    norm = normalise(pattern)
    segments = norm.split("*")
    if len(segments) == 1:
        at, run = _longest_run(norm)
        return ("F", len(norm), at, run[:3])
    at, run = _longest_run(segments[0])
    if run:
        return ("S", 0, at, run[:3])
    last = segments[-1]
    at, run = _longest_run(last)
    if run:
        gram = run[-3:]
        return ("E", 0, len(last) - (at + len(run)), gram)
    best = max((_longest_run(s)[1] for s in segments[1:-1]), key=len)
    return ("G", 0, 0, best[:3])


def pack_fields(fields: dict[str, str]) -> bytes:
    """An entry's fields as stored in the index: `name\x1fvalue\x1f…` (what the bulk load gets from Redis).

    Valid entries have no control characters, so \x1f cannot occur inside a name or value.
    """
    return "\x1f".join(x for kv in fields.items() for x in kv).encode()


def _unpack(payload: bytes) -> dict[str, str]:
    items = payload.decode("utf-8", "replace").split("\x1f") if payload else []
    return dict(zip(items[0::2], items[1::2], strict=False))


class HotlistIndex:
    """Entries of all lists. Mutated only from one thread (the event loop); built in any thread."""

    def __init__(self, lists: dict[str, ListSettings], prefix: str) -> None:
        self.prefix = prefix
        self.lists: dict[str, ListSettings] = dict(lists)
        self._list_names: list[str] = []
        self._list_ids: dict[str, int] = {}
        for name in self.lists:
            self._list_id(name)
        empty_u = np.zeros(0, dtype=np.uint64)
        empty_i = np.zeros(0, dtype=np.int32)
        self._n_base = 0
        self._keys, self._ids = empty_u, empty_i
        self._base_raw = empty_u
        self._base_list = np.zeros(0, dtype=np.uint16)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._payload = b""
        self._payload_off: I64 = np.zeros(1, dtype=np.int64)
        self._extra: dict[int, _Extra] = {}
        self._extra_by_key: dict[str, int] = {}
        self._overlay: dict[int, list[int]] = {}
        self._patterns: dict[int, str] = {}
        self._anchors: dict[Anchor, set[int]] = {}
        self._shapes: Counter[Shape] = Counter()
        self._next_id = 0
        self._refresh_flags()

    # ---- lists -------------------------------------------------------------------------------

    def _list_id(self, name: str) -> int:
        found = self._list_ids.get(name)
        if found is None:
            found = self._list_ids[name] = len(self._list_names)
            self._list_names.append(name)
            self.lists.setdefault(name, ListSettings(name))
        return found

    def set_list(self, settings: ListSettings) -> None:
        self._list_id(settings.name)
        self.lists[settings.name] = settings
        self._refresh_flags()

    def _refresh_flags(self) -> None:
        active = [s for s in self.lists.values() if s.active]
        self.any_lenient = any(s.fuzzy == "lenient" for s in active)
        self.any_fuzzy = any(s.fuzzy != "off" for s in active)
        self.any_partial = any(s.partial for s in active)

    # ---- bulk build --------------------------------------------------------------------------

    def build(self, list_names: Sequence[str], texts: Sequence[str], payloads: Sequence[bytes]) -> None:
        """Load plates (not patterns) in bulk; convenience over `build_packed` for small inputs."""
        ids = {name: i for i, name in enumerate(dict.fromkeys(list_names))}
        plates = b"".join(t.encode("ascii").ljust(MAX_PLATE, b"\0") for t in texts)
        offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in payloads], out=offsets[1:])
        self.build_packed(
            list(ids),
            np.array([ids[n] for n in list_names], dtype=np.uint16),
            plates,
            b"".join(payloads),
            offsets,
        )

    def build_packed(
        self,
        names: Sequence[str],
        list_ids: npt.NDArray[np.uint16],
        plates: bytes | bytearray,
        payload: bytes | bytearray,
        offsets: I64,
    ) -> None:
        """Load plates in bulk into the sorted arrays; the index must be empty.

        `plates` holds each plate padded with NULs to MAX_PLATE bytes; `list_ids` index `names`;
        entry i's payload is `payload[offsets[i]:offsets[i+1]]`. Packed buffers rather than lists of
        objects keep a million-entry load fast and its memory flat.
        """
        if self._next_id:
            raise RuntimeError("build() needs an empty index")
        n = len(list_ids)
        remap = np.array([self._list_id(name) for name in names] or [0], dtype=np.uint16)
        lids = remap[list_ids] if n else np.zeros(0, dtype=np.uint16)
        mat = np.frombuffer(bytes(plates), dtype=np.uint8).reshape(n, MAX_PLATE)
        raw_c, norm_c = _RAW_LUT[mat], _NORM_LUT[mat]
        raw = np.zeros(n, dtype=np.uint64)
        norm = np.zeros(n, dtype=np.uint64)
        for i in range(MAX_PLATE):
            raw |= raw_c[:, i] << np.uint64(6 * i)
            norm |= norm_c[:, i] << np.uint64(5 * i)
        del raw_c, norm_c
        lengths = (mat != 0).sum(axis=1)
        ids = np.arange(n, dtype=np.int32)
        del_keys, del_ids = [norm], [ids]
        for p in range(MAX_PLATE):
            rows = np.nonzero(lengths > p)[0]
            if not len(rows):
                break
            key = norm[rows]
            low = key & np.uint64((1 << (5 * p)) - 1)
            high = key >> np.uint64(5 * (p + 1))
            del_keys.append(low | (high << np.uint64(5 * p)) | np.uint64((p << POS_SHIFT) | DEL_TAG))
            del_ids.append(rows.astype(np.int32))
        dk = np.concatenate(del_keys) if del_keys else np.zeros(0, np.uint64)
        di = np.concatenate(del_ids) if del_ids else np.zeros(0, np.int32)
        del del_keys, del_ids
        order = np.argsort(dk)
        self._keys, self._ids = dk[order], di[order]
        del dk, di, order
        self._base_raw, self._base_list = raw, lids
        self._alive = np.ones(n, dtype=np.bool_)
        if n:  # SCAN may return a key twice: keep one of each (list, plate)
            pair = np.lexsort((lids, raw))
            same = (raw[pair][1:] == raw[pair][:-1]) & (lids[pair][1:] == lids[pair][:-1])
            self._alive[pair[1:][same]] = False
        self._payload = bytes(payload)
        self._payload_off = offsets
        self._n_base = self._next_id = n

    # ---- live changes ------------------------------------------------------------------------

    def _base_id(self, list_name: str, text: str) -> int | None:
        lid = self._list_ids.get(list_name)
        if lid is None or not self._n_base or len(text) > MAX_PLATE or is_pattern(text):
            return None
        key = np.uint64(norm_code(normalise(text)))
        lo = int(np.searchsorted(self._keys, key, "left"))
        hi = int(np.searchsorted(self._keys, key, "right"))
        raw = raw_code(text)
        for i in self._ids[lo:hi].tolist():
            if self._alive[i] and self._base_list[i] == lid and int(self._base_raw[i]) == raw:
                return int(i)
        return None

    def remove(self, list_name: str, text: str) -> bool:
        """Drop the entry `list_name`/`text` if present; True when something was removed."""
        key = f"{self.prefix}:{list_name}:{text}"
        eid = self._extra_by_key.pop(key, None)
        if eid is not None:
            extra = self._extra.pop(eid)
            if eid in self._patterns:
                del self._patterns[eid]
                anchor = pattern_anchor(extra.text)
                self._anchors[anchor].discard(eid)
                shape = (anchor[0], anchor[1], anchor[2], len(anchor[3]))
                self._shapes[shape] -= 1
                if self._shapes[shape] <= 0:
                    del self._shapes[shape]
            else:
                norm = normalise(extra.text)
                for code in (norm_code(norm), *(del_code(norm, p) for p in range(len(norm)))):
                    self._overlay[code].remove(eid)
            return True
        bid = self._base_id(list_name, text)
        if bid is not None:
            self._alive[bid] = False
            return True
        return False

    def upsert(self, list_name: str, text: str, fields: dict[str, str]) -> None:
        """Add or replace an entry (already validated)."""
        self.remove(list_name, text)
        eid = self._next_id
        self._next_id += 1
        key = f"{self.prefix}:{list_name}:{text}"
        self._extra[eid] = _Extra(key, self._list_id(list_name), text, pack_fields(fields))
        self._extra_by_key[key] = eid
        if is_pattern(text):
            self._patterns[eid] = text
            anchor = pattern_anchor(text)
            self._anchors.setdefault(anchor, set()).add(eid)
            self._shapes[(anchor[0], anchor[1], anchor[2], len(anchor[3]))] += 1
        else:
            norm = normalise(text)
            for code in (norm_code(norm), *(del_code(norm, p) for p in range(len(norm)))):
                self._overlay.setdefault(code, []).append(eid)

    # ---- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._alive.sum()) + len(self._extra)

    def counts(self) -> dict[str, int]:
        """Entries per list."""
        out = dict.fromkeys(self.lists, 0)
        if self._n_base:
            for lid, count in enumerate(np.bincount(self._base_list[self._alive]).tolist()):
                if count:
                    out[self._list_names[lid]] = out.get(self._list_names[lid], 0) + count
        for extra in self._extra.values():
            name = self._list_names[extra.list_id]
            out[name] = out.get(name, 0) + 1
        return out

    def list_of(self, eid: int) -> str:
        if eid < self._n_base:
            return self._list_names[int(self._base_list[eid])]
        return self._list_names[self._extra[eid].list_id]

    def text_of(self, eid: int) -> str:
        if eid < self._n_base:
            return decode_raw(int(self._base_raw[eid]))
        return self._extra[eid].text

    def entry(self, eid: int) -> Entry:
        if eid < self._n_base:
            lo, hi = int(self._payload_off[eid]), int(self._payload_off[eid + 1])
            name, text = self.list_of(eid), self.text_of(eid)
            return Entry(f"{self.prefix}:{name}:{text}", name, text, _unpack(self._payload[lo:hi]))
        extra = self._extra[eid]
        return Entry(extra.key, self._list_names[extra.list_id], extra.text, _unpack(extra.payload))

    def find(self, list_name: str, text: str) -> Entry | None:
        """The entry `list_name`/`text` as the index holds it, or None."""
        eid = self._extra_by_key.get(f"{self.prefix}:{list_name}:{text}")
        if eid is None:
            eid = self._base_id(list_name, text)
        return None if eid is None else self.entry(eid)

    def entries(self) -> Iterator[Entry]:
        for eid in np.nonzero(self._alive)[0].tolist():
            yield self.entry(eid)
        for eid in list(self._extra):
            yield self.entry(eid)

    def patterns(self) -> Iterable[tuple[int, str]]:
        return self._patterns.items()

    def plate_ids(
        self, full_queries: list[int], norm_queries: list[int], del_queries: list[int]
    ) -> tuple[set[int], set[int]]:
        """Live plate entries under the queried keys: (equal normalised key, found any other way).

        All keys go through one binary search over the one sorted array; only the few that hit need a
        second search for the end of their run.
        """
        same: set[int] = set()
        near: set[int] = set()
        queries = full_queries + norm_queries + del_queries
        if not queries:
            return same, near
        split = len(full_queries)
        keys = self._keys
        if len(keys):
            q = np.array(queries, dtype=np.uint64)
            lo = np.searchsorted(keys, q)
            found = np.nonzero(keys[np.minimum(lo, len(keys) - 1)] == q)[0]
            if len(found):
                hi = np.searchsorted(keys, q[found], "right").tolist()
                alive, ids = self._alive, self._ids
                for i, start, end in zip(found.tolist(), lo[found].tolist(), hi, strict=True):
                    into = same if i < split else near
                    for eid in ids[start:end].tolist():
                        if alive[eid]:
                            into.add(eid)
        if self._overlay:
            for i, query in enumerate(queries):
                hit = self._overlay.get(query)
                if hit:
                    (same if i < split else near).update(hit)
        return same, near

    @property
    def has_patterns(self) -> bool:
        return bool(self._patterns)

    def pattern_ids(self, norm: str) -> set[int]:
        """Ids of partial patterns whose anchor literals occur where they must in `norm` (a read).

        One dict lookup per anchor *shape* in use (kind, fixed length, offset, gram length) — a few
        dozen at most however many patterns there are — plus one per position for floating anchors.
        """
        found: set[int] = set()
        n = len(norm)
        anchors = self._anchors
        for kind, length, offset, glen in self._shapes:
            if offset + glen > n:
                continue
            if kind == "S" or (kind == "F" and n == length):
                hit = anchors.get((kind, length, offset, norm[offset : offset + glen]))
            elif kind == "E":
                hit = anchors.get((kind, length, offset, norm[n - offset - glen : n - offset]))
            elif kind == "G":
                for i in range(n - glen + 1):
                    hit = anchors.get((kind, length, offset, norm[i : i + glen]))
                    if hit:
                        found.update(hit)
                continue
            else:
                continue
            if hit:
                found.update(hit)
        return found

    def nbytes(self) -> int:
        arrays = (
            self._keys,
            self._ids,
            self._base_raw,
            self._base_list,
            self._alive,
            self._payload_off,
        )
        return sum(a.nbytes for a in arrays) + len(self._payload)
