package auditstore

// The most hashes an inclusion or consistency proof of a tree of at most
// 2^64 leaves holds (one more for a consistency proof's prepended root).
const maxProofHashes = 64

// VerifyInclusion checks an RFC 9162 §2.1.3 inclusion proof
// (docs/FORMAT.md §7): leaf is leaf index of the tree of size with root.
// RFC 9162 proofs do not bind the tree size themselves: take size and root
// together from a verified checkpoint.
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	if index >= size {
		return verificationError("leaf %d is not in a tree of size %d", index, size)
	}
	if len(proof) > maxProofHashes {
		return verificationError("an inclusion proof of %d hashes is too long", len(proof))
	}
	// RFC 9162 §2.1.3.2, step by step.
	fn, sn, r := index, size-1, leaf
	for _, p := range proof {
		if sn == 0 {
			return verificationError("the inclusion proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return verificationError("the inclusion proof is too short")
	}
	if r != root {
		return verificationError("the inclusion proof does not lead to the signed root")
	}
	return nil
}

// VerifyEventInclusion checks that event is leaf seq of a verified
// checkpoint's tree (docs/SDK.md §6): its leaf hash computed here from its
// content, never taken from the server, and the inclusion proof checked
// against the checkpoint's root and size. The checkpoint must come from
// VerifyCheckpoint or Client.Checkpoint, which checked its signature. An
// event of a StoredEvent read from JSON whose answer carried what no hash
// commits to (an actor's member besides type, id and name, a duplicate
// member, a member in another case) fails, naming it.
func VerifyEventInclusion(event Event, seq uint64, proof []Hash, checkpoint *Checkpoint) error {
	if checkpoint == nil {
		return newError(ErrInvalid, "no checkpoint")
	}
	if err := checkCommitted(event); err != nil {
		return err
	}
	leaf, err := LeafHash(event)
	if err != nil {
		return err
	}
	return VerifyInclusion(seq, checkpoint.TreeSize, leaf, proof, checkpoint.Root)
}

// VerifyConsistency checks an RFC 9162 §2.1.4 consistency proof
// (docs/FORMAT.md §8): the tree of oldSize with oldRoot is a prefix of the
// tree of newSize with newRoot.
func VerifyConsistency(oldSize, newSize uint64, oldRoot, newRoot Hash, proof []Hash) error {
	switch {
	case oldSize > newSize:
		return verificationError("the tree shrank from %d to %d", oldSize, newSize)
	case oldSize == 0:
		return verificationError("there is no consistency proof from the empty tree")
	case oldSize == newSize:
		if len(proof) != 0 {
			return verificationError("a consistency proof between trees of one size must be empty")
		}
		if oldRoot != newRoot {
			return verificationError("two different trees of size %d", oldSize)
		}
		return nil
	case len(proof) == 0:
		return verificationError("the consistency proof is empty")
	case len(proof) > 2*maxProofHashes:
		return verificationError("a consistency proof of %d hashes is too long", len(proof))
	}
	// RFC 9162 §2.1.4.2, step by step.
	path := proof
	if oldSize&(oldSize-1) == 0 {
		path = append([]Hash{oldRoot}, proof...)
	}
	fn, sn := oldSize-1, newSize-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return verificationError("the consistency proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			fr = nodeHash(c, fr)
			sr = nodeHash(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return verificationError("the consistency proof is too short")
	}
	if fr != oldRoot {
		return verificationError("the consistency proof does not lead to the old root")
	}
	if sr != newRoot {
		return verificationError("the consistency proof does not lead to the new root")
	}
	return nil
}

// OriginNamesLedger says whether a checkpoint origin names the ledger
// (<any host>/ledgers/<ledger id>): the host may have changed since the
// ledger was made, its id never.
func OriginNamesLedger(origin, ledger string) bool {
	prefix := len(origin) - len(ledger)
	return ledger != "" && prefix >= len("/ledgers/") && origin[prefix:] == ledger &&
		origin[prefix-len("/ledgers/"):prefix] == "/ledgers/"
}

// ledgerOfOrigin is the ledger an AuditStore origin names.
func ledgerOfOrigin(origin string) (string, error) {
	for i := len(origin) - len("/ledgers/"); i > 0; i-- {
		if origin[i:i+len("/ledgers/")] == "/ledgers/" {
			ledger := origin[i+len("/ledgers/"):]
			if checkToken("ledger", ledger, maxIDLen) == nil {
				return ledger, nil
			}
			break
		}
	}
	return "", verificationError("the checkpoint origin %q names no ledger (<host>/ledgers/<id>)", origin)
}
