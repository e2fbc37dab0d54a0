package auditstore

// Attacker-controlled input never panics: malformed notes, evidence files,
// verifier keys, JSON and times are refused with an error. The fuzz
// targets' seeds run with `go test`; `go test -fuzz FuzzVerifyEvidence`
// explores further. A deterministic mutation test covers the same ground on
// every run.

import (
	"encoding/base64"
	"math/rand"
	"testing"
)

func FuzzVerifyCheckpoint(f *testing.F) {
	key, err := ParseVerifierKey(peterKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(peterNote)
	f.Add("a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 PeterNeumann AAAAAAAA\n")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, note string) {
		_, _ = VerifyCheckpoint(note, key)
	})
}

func FuzzVerifyEvidence(f *testing.F) {
	key, err := ParseVerifierKey(peterKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("c2sp.org/tlog-proof@v1\nextra e30=\nindex 0\n\n" + peterNote)
	f.Add("c2sp.org/tlog-proof@v1\nextra \nindex 99999999999999999999\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = VerifyEvidence(text, key)
	})
}

func FuzzParseVerifierKey(f *testing.F) {
	f.Add(peterKey)
	f.Add("a+b+c")
	f.Add("+++")
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = ParseVerifierKey(text)
	})
}

func FuzzCanonicalize(f *testing.F) {
	for _, seed := range []string{`{"a":[1,2.5,"\ud83d\ude00",null,true]}`, `"\ud800"`, `1e400`, `[[[[]]]]`, `{"":{}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		if err != nil {
			return
		}
		// Canonical JSON is its own canonical form.
		again, err := Canonicalize(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("%q canonicalised to %q, then to %q (%v)", data, out, again, err)
		}
	})
}

func FuzzNormaliseTime(f *testing.F) {
	f.Add("2026-11-26T12:30:00.123456789+02:30")
	f.Add("2016-12-31t23:59:60.5z")
	f.Fuzz(func(t *testing.T, text string) {
		out, err := NormaliseTime(text)
		if err != nil {
			return
		}
		if again, err := NormaliseTime(out); err != nil || again != out {
			t.Fatalf("%q normalised to %q, then to %q (%v)", text, out, again, err)
		}
	})
}

func TestMutatedInputsAreRefusedWithoutPanicking(t *testing.T) {
	key, private := testKey(t, "audit.example.com", 7)
	events, leaves := vectorLeaves(t)
	note := signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), treeHash(leaves))
	evidence := evidenceFile(t, events, leaves, 3, note)
	random := rand.New(rand.NewSource(1))
	alphabet := []byte("\n \u2014+/=0123456789abcdefABCDEF{}[]\":,\\.-eE\x00\xff")
	mutate := func(text string) string {
		b := []byte(text)
		for n := 1 + random.Intn(3); n > 0 && len(b) > 0; n-- {
			at := random.Intn(len(b))
			switch random.Intn(4) {
			case 0:
				b[at] = alphabet[random.Intn(len(alphabet))]
			case 1:
				b = append(b[:at], b[at+1:]...)
			case 2:
				b = append(b[:at], append([]byte{alphabet[random.Intn(len(alphabet))]}, b[at:]...)...)
			case 3:
				b = b[:at]
			}
		}
		return string(b)
	}
	accepted, tried := 0, 0
	for i := 0; i < 20000; i++ {
		// A mutant equal to the original (a byte replaced by itself) is no
		// tampering; every other one must fail.
		if mutant := mutate(evidence); mutant != evidence {
			tried++
			if _, err := VerifyEvidence(mutant, key); err == nil {
				if accepted++; accepted == 1 {
					t.Errorf("a mutated evidence file verified:\n%s", mutant)
				}
			}
		}
		_, _ = VerifyCheckpoint(mutate(note), key)
		_, _ = ParseVerifierKey(mutate(key.String()))
		_, _ = Canonicalize([]byte(mutate(`{"a":[1,2.5e3,"x\u00e9\ud83d\ude00",{"b":null}],"c":true}`)))
		_, _ = NormaliseTime(mutate("2026-12-31T20:00:00.9999-05:00"))
		_, _ = ParseHash(mutate(leaves[0].String()))
		_, _ = b64.DecodeString(mutate(base64.StdEncoding.EncodeToString(leaves[0][:])))
	}
	// Every byte of an evidence file is either committed to (the event, the
	// index, the proof, the signed note) or checked to have its one form.
	if accepted != 0 || tried < 19000 {
		t.Fatalf("%d of %d mutated evidence files verified", accepted, tried)
	}
}
