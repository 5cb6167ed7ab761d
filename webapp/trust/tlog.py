"""Merkle tree hashing of the evidence journal, as RFC 9162 §2.1 defines it.

Pure functions over leaf indexes: nothing here knows the database.  The tree
is stored as its *complete* subtrees: the node at (`level`, `index`) is the
hash of the leaves `[index·2^level, (index+1)·2^level)`.  Every hash this
module needs — a tree head, an inclusion or a consistency proof — is a fold
of such stored nodes, so a proof costs O(log² n) stored hashes, read in one
batch, whatever the size of the journal.

The functions that compute proofs run twice: first with a `NodeRecorder`
that only collects the stored nodes they will need (so the caller can read
them in one query), then with the real hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping

Node = tuple[int, int]  # (level, index) of a complete subtree
NodeReader = Callable[[Node], bytes]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """The hash of an empty tree: SHA-256 of the empty string."""
    return hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(lo: int, hi: int, read: NodeReader) -> bytes:
    """MTH(D[lo:hi]) for a range whose start is aligned as RFC 9162's recursion leaves it."""
    size = hi - lo
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0 and lo % size == 0:
        return read((size.bit_length() - 1, lo // size))
    k = _split(size)
    return node_hash(subtree_hash(lo, lo + k, read), subtree_hash(lo + k, hi, read))


def tree_hash(size: int, read: NodeReader) -> bytes:
    """The root hash of the first `size` leaves."""
    return empty_root() if size == 0 else subtree_hash(0, size, read)


def inclusion_path(index: int, size: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1: PATH(m, D[n]), the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < lo + k:
            return [*path(m, lo, lo + k), subtree_hash(lo + k, hi, read)]
        return [*path(m, lo + k, hi), subtree_hash(lo, lo + k, read)]

    return path(index, 0, size)


def consistency_path(old_size: int, new_size: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    if not 0 < old_size <= new_size:
        raise ValueError("consistency needs 0 < old size <= new size")

    def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [subtree_hash(lo, hi, read)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, lo, lo + k, whole), subtree_hash(lo + k, hi, read)]
        return [*subproof(m - k, lo + k, hi, False), subtree_hash(lo, lo + k, read)]

    return subproof(old_size, 0, new_size, True)


class NodeRecorder:
    """A `NodeReader` that notes which stored nodes are asked for and answers with placeholders."""

    def __init__(self) -> None:
        self.nodes: set[Node] = set()

    def __call__(self, node: Node) -> bytes:
        self.nodes.add(node)
        return bytes(32)


def read_twice(compute: Callable[[NodeReader], object], fetch: Callable[[set[Node]], Mapping[Node, bytes]]) -> object:
    """Runs `compute` once to learn the nodes it needs, fetches them in one go, then runs it for real."""
    recorder = NodeRecorder()
    compute(recorder)
    stored = fetch(recorder.nodes)

    def read(node: Node) -> bytes:
        try:
            return stored[node]
        except KeyError:
            raise MissingNode(node) from None

    return compute(read)


class MissingNode(LookupError):
    """A stored hash the computation needs is not in the store."""


def frontier(size: int) -> list[Node]:
    """The complete subtrees a tree of `size` leaves decomposes into, left to right."""
    nodes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def new_nodes(old_size: int, leaves: Iterable[bytes], read: NodeReader) -> Iterator[tuple[Node, bytes]]:
    """The stored nodes that appending `leaves` (already leaf-hashed) to a tree of `old_size` creates.

    `read` is asked only for nodes of the old tree's frontier.
    """
    made: dict[Node, bytes] = {}

    def get(node: Node) -> bytes:
        return made[node] if node in made else read(node)

    index = old_size
    for hashed in leaves:
        node: Node = (0, index)
        made[node] = hashed
        yield node, hashed
        level, position = 0, index
        while position & 1:  # a right child completes its parent
            parent = node_hash(get((level, position - 1)), made[(level, position)])
            level, position = level + 1, position >> 1
            made[(level, position)] = parent
            yield (level, position), parent
        index += 1


class RootAccumulator:
    """Streams leaves and gives the root of every prefix: the audit's independent recomputation.

    Holds only the frontier (at most log2(n) hashes), and reports each complete node as it forms,
    so stored nodes can be compared with what the leaves say they must be.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing

    def add(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        formed: list[tuple[Node, bytes]] = [((0, self.size), leaf)]
        level, current = 0, leaf
        position = self.size
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            current = node_hash(left, current)
            level, position = level + 1, position >> 1
            formed.append(((level, position), current))
        self._stack.append((level, current))
        self.size += 1
        return formed

    def root(self) -> bytes:
        if not self._stack:
            return empty_root()
        current = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            current = node_hash(left, current)
        return current


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, for our own checks (the tests use an independent implementation)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node of the path
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
