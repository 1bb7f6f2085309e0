r"""Molecule-like strings: a tiny SMILES chemistry for drug-discovery experiments, generated,
never downloaded.

SMILES writes a molecule as a line of text: atoms by element (hydrogens are implicit: each
atom is filled up to its valence with them), a bond between neighbouring atoms (single, or
double after ``=``), branches in parentheses, and a ring closed where a digit appears for
the second time: ``CC(=O)O`` is acetic acid, ``C1CCCCC1`` cyclohexane, ``OCCN`` ethanolamine.
Here that grammar is cut down to three elements and one ring digit, 8 characters in all:

    ``.``  ``C``  ``N``  ``O``  ``=``  ``(``  ``)``  ``1``        (``.`` ends the string)

* :func:`molecules` draws random molecules (a random tree of 3-9 heavy atoms within the
  valences C 4, N 3, O 2, each N and O bonded to carbons only; sometimes a 5- or 6-atom ring,
  sometimes a double bond), writes each
  as a string of at most 15 characters, padded with ``.`` to 16, and holds each string as 48
  bits (16 characters of 3 bits), the binary vector a binary autoregressive model (MADE)
  learns character by character. No two molecules of one set are the same molecule.
* :func:`parse` reads a string back, checking the grammar and every atom's valence: the
  *validity* test of a generated string, written independently of the generator.
* :func:`properties`: heavy atoms, rings, hydrogen-bond donors and acceptors, molecular
  weight, bonds between two heteroatoms; :func:`generation_report`: validity, uniqueness and
  novelty of a generator's strings.
* :func:`fingerprint`: one key for all spellings of a molecule (``OCC`` and ``CCO``), a
  Weisfeiler-Lehman hash of the molecular graph, so that novelty is judged on molecules,
  not on strings.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import check_count, check_seed

CHARS = ".CNO=()1"                 # code i is written as 3 bits, most significant first
BITS = 3
LENGTH = 16                        # characters per string, the last always '.'
MAX_CHARS = LENGTH - 1
VALENCE = {"C": 4, "N": 3, "O": 2}
MASS = {"C": 12.011, "N": 14.007, "O": 15.999, "H": 1.008}
_ELEMENTS, _ELEMENT_P = ("C", "N", "O"), (0.7, 0.15, 0.15)
MAX_MOLECULES = 20_000             # different molecules one call may ask for


class NotAMolecule(ValueError):
    """What :func:`parse` raises: ``reason`` names the broken rule (e.g. "a '(' never
    closed", "an atom past its valence"), ``position`` the character (from 1)."""

    def __init__(self, text: str, reason: str, position: int, detail: str = ""):
        super().__init__(f"{text!r} is not a molecule: {detail or reason} (character {position})")
        self.reason, self.position = reason, position


@dataclass(frozen=True)
class Molecule:
    """A molecular graph: heavy atoms, bonds ``(i, j, order)`` with i < j, implicit hydrogens."""

    elements: tuple[str, ...]
    bonds: tuple[tuple[int, int, int], ...]
    hydrogens: tuple[int, ...]


# ============================================================================ reading strings


def parse(text: str) -> Molecule:
    """The molecule a string describes; :class:`NotAMolecule` (a ``ValueError``) saying what
    is wrong and where if it
    describes none (grammar: an atom first, bonds and ring digits after an atom, balanced
    non-empty branches, a ring digit right after its atom and closed once; chemistry: no atom past its valence, no
    second bond between the same two atoms)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    reader = _Reader(text)
    for at, ch in enumerate(text):
        reader.read(ch, at)
    return reader.finish()


class _Reader:
    """:func:`parse`'s state while it reads a string left to right, one character at a time."""

    def __init__(self, text: str):
        self.text = text
        self.elements: list[str] = []
        self.bonds: dict[tuple[int, int], int] = {}
        self.prev, self.pending, self.ring = None, None, None  # last atom, bond order waiting for an atom, open ring
        self.branches: list[tuple[int, int]] = []  # (atom the branch starts from, atoms when it opened)
        self.ring_ok = False  # a ring digit (with its bond, if any) must come right after its atom

    def fail(self, why: str, at: int, detail: str = ""):
        raise NotAMolecule(self.text, why, at + 1, detail)

    def bond(self, a: int, b: int, order: int, at: int) -> None:
        key = (min(a, b), max(a, b))
        if a == b:
            self.fail("a ring closed on the atom that opened it", at)
        if key in self.bonds:
            self.fail("a second bond between the same two atoms", at)
        self.bonds[key] = order

    def read(self, ch: str, at: int) -> None:
        if ch in VALENCE:
            self.elements.append(ch)
            if self.prev is not None:
                self.bond(self.prev, len(self.elements) - 1, self.pending or 1, at)
            self.prev, self.pending, self.ring_ok = len(self.elements) - 1, None, True
            return
        if ch == "=":
            if self.prev is None or self.pending:
                self.fail("'=' must follow an atom", at)
            self.pending = 2
            return
        if ch != "1":
            self.ring_ok = False
        if ch == "(":
            if self.prev is None or self.pending:
                self.fail("a branch must follow an atom", at)
            self.branches.append((self.prev, len(self.elements)))
        elif ch == ")":
            self.close_branch(at)
        elif ch == "1":
            self.ring_digit(at)
        else:
            self.fail(f"unknown character {ch!r} (the alphabet is {CHARS[1:]!r}, '.' ends a string)", at)

    def close_branch(self, at: int) -> None:
        if not self.branches:
            self.fail("')' without '('", at)
        if self.pending:
            self.fail("a bond to nothing", at)
        start, n_before = self.branches.pop()
        if len(self.elements) == n_before:
            self.fail("an empty branch", at)
        self.prev = start

    def ring_digit(self, at: int) -> None:
        if self.prev is None:
            self.fail("a ring digit before any atom", at)
        if not self.ring_ok:
            self.fail("a ring digit must follow its atom, not a branch", at)
        if self.ring is None:
            self.ring = (self.prev, self.pending or 1)
        else:
            if self.pending and self.ring[1] != 1 and self.pending != self.ring[1]:
                self.fail("the two ends of the ring give different bonds", at)
            self.bond(self.ring[0], self.prev, max(self.pending or 1, self.ring[1]), at)
            self.ring = None
        self.pending = None

    def finish(self) -> Molecule:
        """The molecule read, once the string is complete: nothing left open, no atom past its valence."""
        text, elements, end = self.text, self.elements, len(self.text)
        if not elements:
            raise NotAMolecule(text, "no atoms", 1)
        if self.pending:
            self.fail("a bond to nothing", end - 1)
        if self.branches:
            self.fail("a '(' never closed", end - 1)
        if self.ring is not None:
            self.fail("a ring never closed", end - 1)
        used = [0] * len(elements)
        for (a, b), order in self.bonds.items():
            used[a] += order
            used[b] += order
        for i, (e, u) in enumerate(zip(elements, used)):
            if u > VALENCE[e]:
                raise NotAMolecule(text, "an atom past its valence", end,
                                   f"atom {i + 1} ({e}) has {u} bonds, its valence is {VALENCE[e]}")
        return Molecule(tuple(elements), tuple((a, b, o) for (a, b), o in sorted(self.bonds.items())),
                        tuple(VALENCE[e] - u for e, u in zip(elements, used)))


def is_valid(text: str) -> bool:
    """Whether :func:`parse` reads ``text`` as a molecule."""
    try:
        parse(text)
    except ValueError:
        return False
    return True


def properties(mol: Molecule) -> dict:
    """What a medicinal chemist reads first (Lipinski's rule of five counts donors, acceptors
    and weight): ``heavy_atoms``, ``rings`` (independent cycles), ``donors`` (N or O carrying a
    hydrogen), ``acceptors`` (N and O atoms), ``weight`` (g/mol, hydrogens included), and
    ``hetero_bonds``: bonds joining two of N and O (N-N, N-O, O-O: hydrazines, peroxides and
    the like, reactive groups a drug designer avoids)."""
    n, e = len(mol.elements), mol.elements
    return {"heavy_atoms": n, "rings": len(mol.bonds) - n + 1,
            "donors": sum(1 for el, h in zip(e, mol.hydrogens) if el != "C" and h > 0),
            "acceptors": sum(1 for el in e if el != "C"),
            "weight": round(sum(MASS[el] for el in e) + MASS["H"] * sum(mol.hydrogens), 3),
            "hetero_bonds": sum(1 for a, b, _ in mol.bonds if e[a] != "C" and e[b] != "C")}


def generation_report(strings, known=None) -> dict:
    """The first checks of a molecule generator (as in the MOSES and GuacaMol benchmarks):
    ``valid`` (share of the strings that are molecules), ``unique`` (different molecules
    among the valid ones, as a share of them), ``novel`` (share of those different molecules
    that are not in ``known``, e.g. the training set, a :class:`MoleculeStrings` or a list of
    molecule strings; compared by :func:`fingerprint`, so a
    new spelling of a known molecule is not new), ``n`` strings, ``molecules``: the valid
    ones, parsed, in order, and ``broken``: how many invalid strings broke each rule (the
    :attr:`NotAMolecule.reason`), most frequent first."""
    strings = list(strings)
    if not strings:
        raise ValueError("no strings to assess")
    mols, broken = [], Counter()
    for s in strings:
        try:
            mols.append(parse(s))
        except NotAMolecule as err:
            broken[err.reason] += 1
    keys = {fingerprint(m) for m in mols}
    if known is None:
        seen = set()
    elif hasattr(known, "fingerprints"):
        seen = set(known.fingerprints)
    else:   # strings, each a molecule
        seen = {fingerprint(parse(s)) for s in known}
    return {"n": len(strings), "valid": len(mols) / len(strings),
            "unique": len(keys) / len(mols) if mols else 0.0,
            "novel": len(keys - seen) / len(keys) if keys else 0.0, "molecules": mols,
            "broken": dict(broken.most_common())}


def fingerprint(mol: Molecule) -> str:
    """A key shared by every spelling of the molecule: colour refinement (Weisfeiler-Lehman)
    of the graph, atoms starting from element and hydrogen count, as many rounds as atoms.
    It tells apart any two different trees; two different ring molecules could in principle
    share a key, which this module's molecules (one ring at most) make rare."""
    n = len(mol.elements)
    neighbours: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for a, b, order in mol.bonds:
        neighbours[a].append((b, order))
        neighbours[b].append((a, order))
    labels = [f"{e}H{h}" for e, h in zip(mol.elements, mol.hydrogens)]
    for _ in range(n):
        labels = [hashlib.sha1((labels[i] + "|" + ",".join(sorted(f"{o}{labels[j]}" for j, o in neighbours[i])))
                               .encode()).hexdigest()[:16] for i in range(n)]
    return hashlib.sha1(",".join(sorted(labels)).encode()).hexdigest()[:16]


# ============================================================================ strings <-> bits


def encode(strings) -> torch.Tensor:
    """Strings of at most 15 characters of the alphabet -> (N, 48) bits, padded with '.'."""
    rows = []
    for s in strings:
        if not isinstance(s, str) or len(s) > MAX_CHARS or any(c not in CHARS for c in s):
            raise ValueError(f"expected strings of at most {MAX_CHARS} characters of {CHARS!r}, got {s!r}")
        codes = [CHARS.index(c) for c in s.ljust(LENGTH, ".")]
        rows.append([(c >> (BITS - 1 - k)) & 1 for c in codes for k in range(BITS)])
    return torch.tensor(rows, dtype=torch.float32).view(-1, LENGTH * BITS)


def decode(bits) -> list[str]:
    """(N, 48) bits (or probabilities, read at 0.5) -> the strings they spell, each up to its
    first '.' (a generated string ends there, as a sentence ends at its full stop)."""
    b = torch.as_tensor(bits)
    if b.dim() not in (1, 2) or b.shape[-1] != LENGTH * BITS:
        raise ValueError(f"bits must be (N, {LENGTH * BITS}) or ({LENGTH * BITS},), got shape {tuple(b.shape)}")
    b = (b.reshape(-1, LENGTH, BITS) >= 0.5).long()
    codes = (b * torch.tensor([1 << (BITS - 1 - k) for k in range(BITS)])).sum(-1)   # (N, 16)
    return ["".join(CHARS[c] for c in row).split(".", 1)[0] for row in codes.tolist()]


# ============================================================================ the data set


class MoleculeStrings(Dataset):
    """Molecules as ``strings`` and as bits ``x`` (N, 48); ``fingerprints`` for novelty."""

    def __init__(self, strings: list[str]):
        self.strings = list(strings)
        self.x = encode(self.strings)
        self.fingerprints = [fingerprint(parse(s)) for s in self.strings]

    def __len__(self) -> int:
        return len(self.strings)

    def __getitem__(self, i):
        return self.x[i]

    def __repr__(self) -> str:
        return f"MoleculeStrings(n={len(self)}, e.g. {self.strings[:3]})"


def _random_molecule(rng: np.random.Generator) -> tuple[list[str], dict, tuple | None]:
    n = int(rng.integers(3, 10))
    elements = [str(rng.choice(_ELEMENTS, p=_ELEMENT_P))]
    free, bonds = [VALENCE[elements[0]]], {}
    for k in range(1, n):
        e = str(rng.choice(_ELEMENTS, p=_ELEMENT_P))
        carbons = [i for i in range(k) if free[i] >= 1 and elements[i] == "C"]
        if e != "C" and not carbons:
            e = "C"
        # N and O bond to carbon only: no N-N, N-O or O-O bonds (reactive, rare in drugs)
        parent = int(rng.choice(carbons if e != "C" else [i for i in range(k) if free[i] >= 1]))
        elements.append(e)
        bonds[(parent, k)] = 1
        free[parent] -= 1
        free.append(VALENCE[e] - 1)
    ring = None
    if rng.random() < 0.35:   # close a 5- or 6-ring between two atoms 4 or 5 bonds apart
        dist = _tree_distances(n, bonds)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)
                 if dist[i][j] in (4, 5) and free[i] >= 1 and free[j] >= 1 and "C" in (elements[i], elements[j])]
        if pairs:
            ring = pairs[int(rng.integers(len(pairs)))]
            bonds[ring] = 1
            free[ring[0]] -= 1
            free[ring[1]] -= 1
    if rng.random() < 0.4:    # one double bond where both atoms have room
        eligible = [b for b in bonds if b != ring and free[b[0]] >= 1 and free[b[1]] >= 1]
        if eligible:
            b = eligible[int(rng.integers(len(eligible)))]
            bonds[b] = 2
            free[b[0]] -= 1
            free[b[1]] -= 1
    return elements, bonds, ring


def _tree_distances(n: int, bonds: dict) -> list[list[int]]:
    adj = [[] for _ in range(n)]
    for a, b in bonds:
        adj[a].append(b)
        adj[b].append(a)
    out = []
    for s in range(n):
        d, frontier = [-1] * n, [s]
        d[s] = 0
        while frontier:
            nxt = []
            for a in frontier:
                for b in adj[a]:
                    if d[b] < 0:
                        d[b] = d[a] + 1
                        nxt.append(b)
            frontier = nxt
        out.append(d)
    return out


def _write(elements: list[str], bonds: dict, ring: tuple | None, rng: np.random.Generator) -> str:
    """A SMILES string for the graph: depth first from a random atom, branches in a random order."""
    adj = [[] for _ in elements]
    for a, b in bonds:
        if (a, b) != ring:
            adj[a].append(b)
            adj[b].append(a)
    out: list[str] = []

    def visit(a: int, parent: int | None):
        if parent is not None and bonds[(min(a, parent), max(a, parent))] == 2:
            out.append("=")
        out.append(elements[a])
        if ring is not None and a in ring:
            out.append("1")
        kids = [b for b in adj[a] if b != parent]
        kids = [kids[i] for i in rng.permutation(len(kids))]
        for k, b in enumerate(kids):
            if k < len(kids) - 1:
                out.append("(")
                visit(b, a)
                out.append(")")
            else:
                visit(b, a)

    visit(int(rng.integers(len(elements))), None)
    return "".join(out)


def molecules(n: int = 2_000, seed: int = 0) -> MoleculeStrings:
    """``n`` different random molecules (no two the same molecule), as strings and 48-bit vectors."""
    n = check_count("n", n, MAX_MOLECULES, "different molecules per set")
    rng = np.random.default_rng(check_seed("seed", seed))
    strings, seen = [], set()
    for _ in range(200 * n):
        elements, bonds, ring = _random_molecule(rng)
        s = _write(elements, bonds, ring, rng)
        if len(s) > MAX_CHARS:
            continue
        key = fingerprint(parse(s))
        if key not in seen:
            seen.add(key)
            strings.append(s)
            if len(strings) == n:
                return MoleculeStrings(strings)
    raise ValueError(f"could not draw {n:,} different molecules of at most {MAX_CHARS} characters "
                     f"(found {len(strings):,}); ask for fewer")
