package auditstore

// Checkpoints and evidence files made here with a key of our own, over the
// vector events, verified offline, each with tampered twins that must fail.

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKey is a deterministic Ed25519 key and its verifier key.
func testKey(t *testing.T, name string, seed byte) (*VerifierKey, ed25519.PrivateKey) {
	t.Helper()
	private := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune(seed)), ed25519.SeedSize)))
	public := private.Public().(ed25519.PublicKey)
	text := fmt.Sprintf("%s+%08x+%s", name, keyID(name, public), base64.StdEncoding.EncodeToString(append([]byte{1}, public...)))
	key, err := ParseVerifierKey(text)
	if err != nil {
		t.Fatalf("the test key: %v", err)
	}
	return key, private
}

// signLine is one signature line of text by the key.
func signLine(key *VerifierKey, private ed25519.PrivateKey, text string) string {
	raw := make([]byte, 4, 68)
	binary.BigEndian.PutUint32(raw, key.ID)
	raw = append(raw, ed25519.Sign(private, []byte(text))...)
	return "\u2014 " + key.Name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// nonCanonical sets a padding bit of base64 text (32 bytes leave two
// unused bits in its last character): the same bytes, another spelling.
func nonCanonical(text string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	at := strings.IndexByte(text, '=') - 1
	return text[:at] + string(alphabet[strings.IndexByte(alphabet, text[at])|1]) + text[at+1:]
}

func signedCheckpoint(key *VerifierKey, private ed25519.PrivateKey, origin string, size int, root Hash) string {
	body := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
	return body + "\n" + signLine(key, private, body)
}

func evidenceFile(t *testing.T, events []Event, leaves []Hash, seq int, note string) string {
	t.Helper()
	n, err := normalise(events[seq])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("c2sp.org/tlog-proof@v1\nextra " + base64.StdEncoding.EncodeToString(n.canonicalEvent()) + "\n")
	fmt.Fprintf(&b, "index %d\n", seq)
	for _, h := range inclusionPath(seq, leaves) {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	return b.String() + "\n" + note
}

func TestCheckpointsVerifyAgainstThePinnedKeyAndTwinsFail(t *testing.T) {
	key, private := testKey(t, "audit.example.com", 7)
	other, otherPrivate := testKey(t, "audit.example.com", 8)
	stranger, strangerPrivate := testKey(t, "someone.else", 9)
	_, leaves := vectorLeaves(t)
	root := treeHash(leaves)
	note := signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), root)
	cp, err := VerifyCheckpoint(note, key)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != "audit.example.com/ledgers/acme-prod" || cp.TreeSize != uint64(len(leaves)) || cp.Root != root || cp.Note != note {
		t.Fatalf("parsed as %+v", cp)
	}
	body := note[:strings.Index(note, "\n\n")+1]
	// A signature by a key not pinned is ignored, beside a good one.
	if _, err := VerifyCheckpoint(note+signLine(stranger, strangerPrivate, body), key); err != nil {
		t.Errorf("with a stranger's signature too: %v", err)
	}
	withExtension := body + "extension line\n"
	if _, err := VerifyCheckpoint(withExtension+"\n"+signLine(key, private, withExtension), key); err != nil {
		t.Errorf("with an extension line: %v", err)
	}
	sizeForged := strings.Replace(note, fmt.Sprintf("\n%d\n", len(leaves)), fmt.Sprintf("\n%d\n", len(leaves)+1), 1)
	rootForged := strings.Replace(note, base64.StdEncoding.EncodeToString(root[:]), base64.StdEncoding.EncodeToString(leaves[0][:]), 1)
	sig := strings.TrimSuffix(note[strings.LastIndex(note, " ")+1:], "\n")
	raw, _ := base64.StdEncoding.DecodeString(sig)
	raw[10] ^= 1
	size := fmt.Sprintf("\n%d\n", len(leaves))
	rootText := base64.StdEncoding.EncodeToString(root[:])
	resign := func(text string) string { return text + "\n" + signLine(key, private, text) }
	twins := map[string]string{
		"a forged tree size":     sizeForged,
		"a forged root":          rootForged,
		"a flipped signature":    strings.Replace(note, sig, base64.StdEncoding.EncodeToString(raw), 1),
		"another key's":          signedCheckpoint(other, otherPrivate, "audit.example.com/ledgers/acme-prod", 12, root),
		"a bad line by our key":  note + signLine(key, otherPrivate, body),
		"no signature":           body + "\n",
		"no blank line":          body,
		"no final newline":       strings.TrimSuffix(note, "\n"),
		"a tab":                  strings.Replace(note, "acme-prod", "acme\tprod", 1),
		"a malformed line":       note + "- x y\n",
		"a short signature":      note + "\u2014 x AAAA\n",
		"101 signatures":         note + strings.Repeat(signLine(stranger, strangerPrivate, body), 100),
		"a leading zero size":    resign(strings.Replace(body, size, "\n0"+size[1:], 1)),
		"a size beyond 64 bits":  resign(strings.Replace(body, size, "\n18446744073709551616\n", 1)),
		"a short root":           resign(strings.Replace(body, base64.StdEncoding.EncodeToString(root[:]), "AAAA", 1)),
		"no root line":           resign("audit.example.com/ledgers/acme-prod\n12\n"),
		"an empty origin":        resign(body[strings.Index(body, "\n"):]),
		"an empty extension":     resign(body + "\n"),
		"invalid UTF-8":          strings.Replace(note, "acme", "\xffcme", 1),
		"non-canonical base64":   resign(strings.Replace(body, rootText, nonCanonical(rootText), 1)),
		"a signature name space": strings.Replace(note, "\u2014 audit.example.com ", "\u2014 audit.example.com  ", 1),
		// Signed, so only the control character is wrong: DEL and C1 (NEL).
		"a DEL in an extension":  resign(body + "extension\x7fline\n"),
		"a NEL in an extension":  resign(body + "extension\u0085line\n"),
		"a DEL in the origin":    resign(strings.Replace(body, "acme-prod", "acme\x7fprod", 1)),
		"a C1 control in a body": resign(strings.Replace(body, "acme-prod", "acme\u009bprod", 1)),
	}
	for what, forged := range twins {
		_, err := VerifyCheckpoint(forged, key)
		if !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	for _, what := range []string{"a DEL in an extension", "a NEL in an extension", "a DEL in the origin", "a C1 control in a body"} {
		if _, err := VerifyCheckpoint(twins[what], key); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("%s says so: %v", what, err)
		}
	}
	if _, err := VerifyCheckpoint(sizeForged, key); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a forged size says so: %v", err)
	}
}

func TestASmallOrderKeyIsRefused(t *testing.T) {
	for _, point := range smallOrder {
		for _, sign := range []byte{0, 0x80} {
			key := point
			key[31] |= sign
			text := fmt.Sprintf("weak+%08x+%s", keyID("weak", key[:]), base64.StdEncoding.EncodeToString(append([]byte{1}, key[:]...)))
			if _, err := ParseVerifierKey(text); err == nil || !strings.Contains(err.Error(), "small-order") {
				t.Errorf("%x: %v", key, err)
			}
		}
	}
}

func TestEvidenceVerifiesOfflineForEveryEventAndTwinsFail(t *testing.T) {
	key, private := testKey(t, "audit.example.com", 7)
	other, _ := testKey(t, "audit.example.com", 8)
	events, leaves := vectorLeaves(t)
	root := treeHash(leaves)
	note := signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), root)
	for seq := range events {
		text := evidenceFile(t, events, leaves, seq, note)
		verified, err := VerifyEvidence(text, key)
		if err != nil {
			t.Fatalf("evidence of %d: %v", seq, err)
		}
		if verified.Ledger != "acme-prod" || verified.Seq != uint64(seq) || verified.LeafHash != leaves[seq] ||
			verified.Event.ID != events[seq].ID || verified.Checkpoint.TreeSize != uint64(len(leaves)) {
			t.Fatalf("evidence of %d verified as %+v", seq, verified)
		}
	}
	// The twins, of the event at seq 8 (evt_0009).
	text := evidenceFile(t, events, leaves, 8, note)
	lines := strings.Split(text, "\n")
	extra := func(content string) string {
		return strings.Replace(text, lines[1], "extra "+base64.StdEncoding.EncodeToString([]byte(content)), 1)
	}
	content, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	proofLine := lines[3]
	rawProof, _ := base64.StdEncoding.DecodeString(proofLine)
	rawProof[0] ^= 1
	otherExtra := strings.Split(evidenceFile(t, events, leaves, 9, note), "\n")[1]
	twins := map[string]string{
		"another index":         strings.Replace(text, "\nindex 8\n", "\nindex 7\n", 1),
		"another event's extra": strings.Replace(text, lines[1], otherExtra, 1),
		"one byte of the event": extra(strings.Replace(string(content), "login.failed", "login.faileD", 1)),
		"a flipped proof hash":  strings.Replace(text, proofLine, base64.StdEncoding.EncodeToString(rawProof), 1),
		"a proof hash removed":  strings.Replace(text, proofLine+"\n", "", 1),
		"a proof hash added":    strings.Replace(text, proofLine+"\n", proofLine+"\n"+proofLine+"\n", 1),
		"a forged root":         strings.Replace(text, base64.StdEncoding.EncodeToString(root[:]), base64.StdEncoding.EncodeToString(leaves[1][:]), 1),
		"a non-canonical event": extra(strings.Replace(string(content), `{"action"`, `{ "action"`, 1)),
		"a time not normalised": extra(strings.Replace(string(content), ".999Z", ".9990Z", 1)),
		"an unknown member":     extra(strings.Replace(string(content), `{"action"`, `{"a":1,"action"`, 1)),
		"no metadata":           extra(strings.Replace(string(content), `"metadata":{"reason":"bad_totp"},`, "", 1)),
		"trailing data":         text + "extra\n",
		"truncated":             text[:len(text)/2],
		"truncated signature":   text[:len(text)-1],
		"another format":        strings.Replace(text, "tlog-proof@v1", "tlog-proof@v2", 1),
		"no extra":              strings.Replace(text, lines[1]+"\n", "", 1),
		"a leading zero index":  strings.Replace(text, "\nindex 8\n", "\nindex 08\n", 1),
		"extra not base64":      strings.Replace(text, "\nextra ", "\nextra !", 1),
		"carriage returns":      strings.ReplaceAll(text, "\n", "\r\n"),
		"an origin naming no ledger": evidenceFile(t, events, leaves, 8,
			signedCheckpoint(key, private, "audit.example.com/logs/acme-prod", len(leaves), root)),
	}
	for what, forged := range twins {
		_, err := VerifyEvidence(forged, key)
		if !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	if _, err := VerifyEvidence(text, other); !errors.Is(err, ErrVerification) {
		t.Errorf("another key: %v", err)
	}
	// Five events of a tree of one: no proof lines at all.
	single := signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", 1, leaves[0])
	if v, err := VerifyEvidence(evidenceFile(t, events, leaves[:1], 0, single), key); err != nil || v.Seq != 0 {
		t.Errorf("the evidence of a tree of one: %v", err)
	}
}

// The twins of one evidence file whose error must name what is wrong: a
// flipped signature byte, control characters in a signed note, and an
// actor or resource with a member besides type, id and name. Such a member
// changes no leaf hash (nothing commits to it), so the tree and its signed
// checkpoint still verify: only the check of the extra data's structure
// can refuse it.
func TestEvidenceTwinsNameWhatIsWrong(t *testing.T) {
	key, private := testKey(t, "audit.example.com", 7)
	other, otherPrivate := testKey(t, "audit.example.com", 8)
	events, leaves := vectorLeaves(t)
	root := treeHash(leaves)
	note := signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), root)
	text := evidenceFile(t, events, leaves, 8, note)
	extraLine := strings.Split(text, "\n")[1]
	content, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(extraLine, "extra "))
	withExtra := func(old, new string) string {
		if !strings.Contains(string(content), old) {
			t.Fatalf("%q is not in %s", old, content)
		}
		changed := strings.Replace(string(content), old, new, 1)
		return strings.Replace(text, extraLine, "extra "+base64.StdEncoding.EncodeToString([]byte(changed)), 1)
	}
	body := note[:strings.Index(note, "\n\n")+1]
	signedWith := func(extension string) string {
		extended := body + extension + "\n"
		return evidenceFile(t, events, leaves, 8, extended+"\n"+signLine(key, private, extended))
	}
	if _, err := VerifyEvidence(signedWith("a plain extension"), key); err != nil {
		t.Fatalf("with an extension line: %v", err)
	}
	twins := map[string][2]string{
		"a flipped signature byte":    {strings.Replace(text, note, flipSignature(note), 1), "does not verify"},
		"an actor with an email":      {withExtra(`"actor":{"id":"u_9"`, `"actor":{"email":"jane@example.com","id":"u_9"`), `actor that has a member "email"`},
		"a resource with an owner":    {withExtra(`"type":"session"}`, `"owner":"u_1","type":"session"}`), `resource that has a member "owner"`},
		"an actor with a null name":   {withExtra(`"id":"u_9",`, `"id":"u_9","name":null,`), "actor that has a name that is not a non-empty string"},
		"an actor's ID in capitals":   {withExtra(`"actor":{"id"`, `"actor":{"ID"`), `actor that has a member "ID"`},
		"a DEL in an extension line":  {signedWith("extension\x7f"), "control character"},
		"a NEL in an extension line":  {signedWith("extension\u0085"), "control character"},
		"a C1 control in the body":    {strings.Replace(text, "index 8\n", "index 8\u0085\n", 1), "control character"},
		"a DEL after the proof":       {strings.Replace(text, "\n\naudit.example.com", "\n\x7f\naudit.example.com", 1), "control character"},
		"another key's signed note":   {evidenceFile(t, events, leaves, 8, signedCheckpoint(other, otherPrivate, "audit.example.com/ledgers/acme-prod", len(leaves), root)), "no signature by the pinned key"},
		"a note over another root":    {evidenceFile(t, events, leaves, 8, signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), leaves[0])), "signed root"},
		"a resource without its type": {withExtra(`,"type":"session"}`, `}`), "resource that has no type"},
	}
	for what, twin := range twins {
		_, err := VerifyEvidence(twin[0], key)
		if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), twin[1]) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
}
