package auditstore

// RFC 9162 proofs made here by the definitions of §2.1 (a reference tree
// over the vector leaves), checked by VerifyInclusion and VerifyConsistency
// for every position and size, each with tampered twins that must fail.

import (
	"crypto/sha256"
	"errors"
	"testing"
)

// largestPowerBelow is the largest power of two strictly smaller than n (n > 1).
func largestPowerBelow(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// treeHash is MTH(D[n]) (RFC 9162 §2.1.1).
func treeHash(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := largestPowerBelow(len(leaves))
	return nodeHash(treeHash(leaves[:k]), treeHash(leaves[k:]))
}

// inclusionPath is PATH(m, D[n]) (RFC 9162 §2.1.3.1).
func inclusionPath(m int, leaves []Hash) []Hash {
	if len(leaves) <= 1 {
		return nil
	}
	k := largestPowerBelow(len(leaves))
	if m < k {
		return append(inclusionPath(m, leaves[:k]), treeHash(leaves[k:]))
	}
	return append(inclusionPath(m-k, leaves[k:]), treeHash(leaves[:k]))
}

// consistencyProof is PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1).
func consistencyProof(m int, leaves []Hash) []Hash {
	return subproof(m, leaves, true)
}

func subproof(m int, leaves []Hash, whole bool) []Hash {
	n := len(leaves)
	if m == n {
		if whole {
			return nil
		}
		return []Hash{treeHash(leaves)}
	}
	k := largestPowerBelow(n)
	if m <= k {
		return append(subproof(m, leaves[:k], whole), treeHash(leaves[k:]))
	}
	return append(subproof(m-k, leaves[k:], false), treeHash(leaves[:k]))
}

func flipped(proof []Hash, i int) []Hash {
	out := append([]Hash(nil), proof...)
	out[i][0] ^= 1
	return out
}

func TestInclusionProofsVerifyForEveryLeafAndEveryTwinFails(t *testing.T) {
	_, leaves := vectorLeaves(t)
	for n := 1; n <= len(leaves); n++ {
		root := treeHash(leaves[:n])
		for m := 0; m < n; m++ {
			proof := inclusionPath(m, leaves[:n])
			if err := VerifyInclusion(uint64(m), uint64(n), leaves[m], proof, root); err != nil {
				t.Fatalf("leaf %d of %d: %v", m, n, err)
			}
			fail := func(what string, index, size uint64, leaf Hash, proof []Hash, root Hash) {
				t.Helper()
				if err := VerifyInclusion(index, size, leaf, proof, root); !errors.Is(err, ErrVerification) {
					t.Errorf("leaf %d of %d, %s: %v", m, n, what, err)
				}
			}
			other := leaves[(m+1)%len(leaves)]
			fail("another leaf", uint64(m), uint64(n), other, proof, root)
			fail("another root", uint64(m), uint64(n), leaves[m], proof, other)
			fail("an index beyond the tree", uint64(n), uint64(n), leaves[m], proof, root)
			for i := range proof {
				fail("a flipped proof hash", uint64(m), uint64(n), leaves[m], flipped(proof, i), root)
			}
			if len(proof) > 0 {
				fail("a proof one short", uint64(m), uint64(n), leaves[m], proof[:len(proof)-1], root)
			}
			fail("a proof one long", uint64(m), uint64(n), leaves[m], append(append([]Hash(nil), proof...), root), root)
			if m+1 < n {
				fail("another index", uint64(m+1), uint64(n), leaves[m], proof, root)
			}
		}
	}
	if err := VerifyInclusion(0, 1, leaves[0], make([]Hash, 65), leaves[0]); !errors.Is(err, ErrVerification) {
		t.Errorf("an overlong proof: %v", err)
	}
}

func TestConsistencyProofsVerifyForEverySizeAndEveryTwinFails(t *testing.T) {
	_, leaves := vectorLeaves(t)
	for n := 1; n <= len(leaves); n++ {
		newRoot := treeHash(leaves[:n])
		for m := 1; m <= n; m++ {
			oldRoot := treeHash(leaves[:m])
			proof := consistencyProof(m, leaves[:n])
			if err := VerifyConsistency(uint64(m), uint64(n), oldRoot, newRoot, proof); err != nil {
				t.Fatalf("%d to %d: %v", m, n, err)
			}
			fail := func(what string, m, n uint64, oldRoot, newRoot Hash, proof []Hash) {
				t.Helper()
				if err := VerifyConsistency(m, n, oldRoot, newRoot, proof); !errors.Is(err, ErrVerification) {
					t.Errorf("%d to %d, %s: %v", m, n, what, err)
				}
			}
			fail("another old root", uint64(m), uint64(n), sha256.Sum256([]byte("y")), newRoot, proof)
			fail("another new root", uint64(m), uint64(n), oldRoot, sha256.Sum256([]byte("x")), proof)
			for i := range proof {
				fail("a flipped proof hash", uint64(m), uint64(n), oldRoot, newRoot, flipped(proof, i))
			}
			if len(proof) > 0 {
				fail("a proof one short", uint64(m), uint64(n), oldRoot, newRoot, proof[:len(proof)-1])
			}
			fail("a proof one long", uint64(m), uint64(n), oldRoot, newRoot, append(append([]Hash(nil), proof...), newRoot))
			fail("the sizes swapped", uint64(n)+1, uint64(m), newRoot, oldRoot, proof)
		}
	}
	root := treeHash(leaves)
	if err := VerifyConsistency(0, 3, Hash{}, root, nil); !errors.Is(err, ErrVerification) {
		t.Errorf("from the empty tree: %v", err)
	}
	if err := VerifyConsistency(3, 3, root, root, []Hash{root}); !errors.Is(err, ErrVerification) {
		t.Errorf("one size with a proof: %v", err)
	}
}

func TestOriginsNameTheirLedger(t *testing.T) {
	for origin, want := range map[string]bool{
		"localhost/ledgers/ldg_1": true, "a.example/ledgers/ldg_1": true, "a.example/ledgers/xldg_1": false,
		"a.example/ledger/ldg_1": false, "ldg_1": false, "/ledgers/ldg_1": true,
	} {
		if got := OriginNamesLedger(origin, "ldg_1"); got != want {
			t.Errorf("%s: %v", origin, got)
		}
	}
	if ledger, err := ledgerOfOrigin("a.example/ledgers/acme"); err != nil || ledger != "acme" {
		t.Errorf("a ledger origin: %s %v", ledger, err)
	}
	for _, origin := range []string{"example.com/log", "/ledgers/x", "a/ledgers/", "a/ledgers/b c"} {
		if _, err := ledgerOfOrigin(origin); err == nil {
			t.Errorf("%s names a ledger", origin)
		}
	}
}
