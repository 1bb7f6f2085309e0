"""The molecule strings of lesson 13: a SMILES subset read with its valences, fingerprints that
see through spellings, bits that round-trip, and a data set of different valid molecules."""

import numpy as np
import pytest
import torch

from genlearn import data
from genlearn.data.molecules import (CHARS, LENGTH, NotAMolecule, _write, decode, encode, fingerprint,
                                     generation_report, is_valid, molecules, parse, properties)


@pytest.mark.parametrize("smiles, elements, hydrogens, props", [
    ("CC(=O)O", "CCOO", (3, 0, 0, 1),                 # acetic acid
     {"heavy_atoms": 4, "rings": 0, "donors": 1, "acceptors": 2, "weight": 60.052, "hetero_bonds": 0}),
    ("C1CCCCC1", "CCCCCC", (2,) * 6,                  # cyclohexane
     {"heavy_atoms": 6, "rings": 1, "donors": 0, "acceptors": 0, "weight": 84.162, "hetero_bonds": 0}),
    ("OCCN", "OCCN", (1, 2, 2, 2),                    # ethanolamine
     {"heavy_atoms": 4, "rings": 0, "donors": 2, "acceptors": 2, "weight": 61.084, "hetero_bonds": 0}),
    ("NN", "NN", (2, 2),                              # hydrazine
     {"heavy_atoms": 2, "rings": 0, "donors": 2, "acceptors": 2, "weight": 32.046, "hetero_bonds": 1}),
    ("C=1CCCC1", "CCCCC", (1, 2, 2, 2, 1),            # cyclopentene, the double bond written at the ring digit
     {"heavy_atoms": 5, "rings": 1, "donors": 0, "acceptors": 0, "weight": 68.119, "hetero_bonds": 0}),
])
def test_known_molecules_parse_with_their_hydrogens_and_properties(smiles, elements, hydrogens, props):
    mol = parse(smiles)
    assert "".join(mol.elements) == elements and mol.hydrogens == hydrogens
    got = properties(mol)
    assert got == pytest.approx(props, abs=0.01)
    assert is_valid(smiles)


@pytest.mark.parametrize("text, why", [
    ("", "no atoms"),
    ("=C", "'=' must follow an atom"),
    ("C=", "a bond to nothing"),
    ("C==C", "'=' must follow an atom"),
    ("(C)C", "a branch must follow an atom"),
    ("C()C", "an empty branch"),
    ("C(C", "never closed"),
    ("CC)C", "without '\\('"),
    ("C(=)C", "a bond to nothing"),
    ("C1CC", "a ring never closed"),
    ("1CC", "a ring digit before any atom"),
    ("C11", "on the atom that opened it"),
    ("C(C)1CC1", "must follow its atom, not a branch"),
    ("CC1C1", "a second bond between the same two atoms"),
    ("O=O=O", r"atom 2 \(O\) has 4 bonds, its valence is 2"),
    ("C(C)(C)(C)(C)C", r"atom 1 \(C\) has 5 bonds"),
    ("N(C)(C)=C", r"atom 1 \(N\) has 4 bonds, its valence is 3"),
    ("CXC", "unknown character 'X'"),
    ("CC.C", "unknown character '.'"),
])
def test_strings_that_are_not_molecules_are_refused_with_the_reason(text, why):
    with pytest.raises(NotAMolecule, match=why) as err:
        parse(text)
    assert not is_valid(text)
    assert err.value.reason in str(err.value) or err.value.reason == "an atom past its valence"
    assert 1 <= err.value.position <= max(len(text), 1)


def test_fingerprints_see_through_spellings_and_tell_molecules_apart():
    same = ["CCO", "OCC", "C(O)C", "C(C)O"]
    assert len({fingerprint(parse(s)) for s in same}) == 1
    assert fingerprint(parse("C1CCCCC1")) == fingerprint(parse("C(C1)CCCC1"))  # the ring opened elsewhere
    different = ["CCCC", "CC(C)C", "C1CCC1", "C=CCC", "CC=CC", "CCCN", "CCNC", "C1CCCC1", "C1CCCCC1", "OO", "NN"]
    assert len({fingerprint(parse(s)) for s in different}) == len(different)


def test_every_written_spelling_of_a_molecule_reads_back_as_that_molecule():
    rng = np.random.default_rng(0)
    for s in molecules(300, seed=3).strings:
        mol = parse(s)
        bonds = {(a, b): o for a, b, o in mol.bonds}
        ring = next(((a, b) for (a, b), o in bonds.items() if o == 1 and _on_cycle(len(mol.elements), bonds, a, b)), None)
        assert (ring is not None) == bool(properties(mol)["rings"]), s
        again = _write(list(mol.elements), bonds, ring, rng)
        assert fingerprint(parse(again)) == fingerprint(mol), (s, again)


def _on_cycle(n, bonds, a, b):
    """Whether bond a-b lies on a cycle: b is still reachable from a without it."""
    adj = {i: set() for i in range(n)}
    for (i, j) in bonds:
        if (i, j) != (a, b):
            adj[i].add(j)
            adj[j].add(i)
    seen, todo = {a}, [a]
    while todo:
        for j in adj[todo.pop()] - seen:
            seen.add(j)
            todo.append(j)
    return b in seen


def test_strings_and_bits_round_trip_and_decoding_stops_at_the_first_full_stop():
    strings = ["CC(=O)O", "C1CCCCC1", "N", "C" * 15]
    bits = encode(strings)
    assert bits.shape == (4, LENGTH * 3) and set(bits.unique().tolist()) <= {0.0, 1.0}
    assert decode(bits) == strings
    assert decode(bits * 0.8 + 0.1) == strings, "probabilities are read at 0.5"
    codes = bits.view(4, LENGTH, 3)
    assert torch.all(codes[2, 1:] == 0), "padding is '.', code 0"
    stopped = bits.clone()
    stopped[0, 3 * 3:3 * 4] = 0            # the 4th character becomes '.'
    assert decode(stopped)[0] == "CC("
    for bad in (["C" * 16], ["CXC"], [12]):
        with pytest.raises(ValueError, match="at most 15 characters"):
            encode(bad)
    with pytest.raises(ValueError, match=r"bits must be \(N, 48\)"):
        decode(torch.zeros(2, 47))
    assert decode(bits[0]) == strings[:1]
    every_code = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(1, 8)] * 2 + [[0, 0, 0]] * 2,
                              dtype=torch.float32).view(1, -1)
    assert decode(every_code) == [CHARS[1:] * 2]


def test_molecules_are_different_valid_and_deterministic_by_seed():
    a, b, c = molecules(400, seed=1), molecules(400, seed=1), molecules(400, seed=2)
    assert a.strings == b.strings and torch.equal(a.x, b.x) and a.strings != c.strings
    assert a.x.shape == (400, 48) and decode(a.x) == a.strings
    assert all(len(s) <= 15 and is_valid(s) for s in a.strings)
    assert len(set(a.fingerprints)) == 400, "no molecule twice, however it is spelled"
    props = [properties(parse(s)) for s in a.strings]
    share = lambda key: np.mean([p[key] > 0 for p in props])  # noqa: E731
    assert 0.1 < share("rings") < 0.5 and 0.3 < share("acceptors") < 0.95
    assert any("=" in s for s in a.strings) and any("(" in s for s in a.strings)
    assert {p["heavy_atoms"] for p in props} <= set(range(3, 10))
    assert all(p["hetero_bonds"] == 0 for p in props), "N and O are bonded to carbons only"
    assert len(a) == 400 and torch.equal(a[5], a.x[5])


def test_generation_report_counts_validity_uniqueness_and_novelty_by_molecule():
    known = molecules(50, seed=0)
    old = known.strings[0]
    strings = [old, "C1CCCCC1", "C1CCCC(C1)", "CC(", "=C", "OO"]   # the 2nd and 3rd are one molecule
    r = generation_report(strings, known)
    assert r["n"] == 6 and r["valid"] == pytest.approx(4 / 6)
    assert r["unique"] == pytest.approx(3 / 4)
    novel = {fingerprint(parse(s)) for s in strings[:3] + ["OO"]} - set(known.fingerprints)
    assert r["novel"] == pytest.approx(len(novel) / 3) and len(novel) in (1, 2)
    assert [type(m).__name__ for m in r["molecules"]] == ["Molecule"] * 4
    assert r["broken"] == {"a '(' never closed": 1, "'=' must follow an atom": 1}
    assert generation_report(["CC("])["valid"] == 0 and generation_report(["CC"])["novel"] == 1
    assert generation_report(["CC", "OCC"], known=["CCO", "C1CCCCC1"])["novel"] == 0.5, "known as plain strings"
    with pytest.raises(ValueError, match="no strings"):
        generation_report([])


def test_molecules_check_their_arguments():
    with pytest.raises(ValueError, match="between 1 and 20,000"):
        molecules(50_000)
    with pytest.raises(TypeError, match="expected a string"):
        parse(b"CC")
    assert len(data.load("molecules", "test", n=20)) == 20
