package auditstore

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Signed notes (https://c2sp.org/signed-note) with Ed25519 signatures, the
// verifier key format of golang.org/x/mod/sumdb/note, and checkpoints
// (https://c2sp.org/tlog-checkpoint), as docs/FORMAT.md §10 says.

// maxSignatures is the most signature lines a note may carry (the spec asks
// verifiers to accept at least 16).
const maxSignatures = 100

// b64 is standard padded base64 that refuses non-zero trailing bits, so
// every value has exactly one encoding.
var b64 = base64.StdEncoding.Strict()

// VerifierKey is a trusted Ed25519 checkpoint key:
// <name>+<key id as 8 hex digits>+<base64(0x01 || 32-byte key)>.
type VerifierKey struct {
	Name string
	// ID is SHA-256(name || 0x0A || 0x01 || key)[0:4], big-endian.
	ID  uint32
	Key ed25519.PublicKey
}

// String writes the key in its published form.
func (k *VerifierKey) String() string {
	return fmt.Sprintf("%s+%08x+%s", k.Name, k.ID, b64.EncodeToString(append([]byte{1}, k.Key...)))
}

// keyID is the C2SP key id of an Ed25519 key under a name.
func keyID(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 1})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// checkName checks a key name: non-empty, no Unicode white space, '+' or
// control characters.
func checkName(name string) error {
	if name == "" {
		return verificationError("a key name is empty")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || r == '+' || unicode.IsControl(r) || r == utf8.RuneError {
			return verificationError("key name %q has a space, '+' or a control character", name)
		}
	}
	return nil
}

// smallOrder lists the encodings of the Ed25519 points of small order,
// sign bit cleared (as libsodium's check does): a key among them verifies
// signatures that no private key made.
var smallOrder = [][32]byte{
	{0x00},
	{0x01},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

func isSmallOrder(key []byte) bool {
	for _, bad := range smallOrder {
		same := key[31]&0x7f == bad[31]
		for i := 0; i < 31 && same; i++ {
			same = key[i] == bad[i]
		}
		if same {
			return true
		}
	}
	return false
}

// ParseVerifierKey reads a verifier key (docs/FORMAT.md §10), recomputes
// its key id from the name and key, and refuses a mismatch or a small-order
// key. Surrounding white space (a trailing newline) is ignored.
func ParseVerifierKey(text string) (*VerifierKey, error) {
	parts := strings.SplitN(strings.TrimSpace(text), "+", 3)
	if len(parts) != 3 {
		return nil, verificationError("a verifier key is <name>+<key id>+<base64 key>")
	}
	name, idHex, keyB64 := parts[0], parts[1], parts[2]
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(idHex) != 8 {
		return nil, verificationError("a verifier key id is 8 hex digits")
	}
	id, err := strconv.ParseUint(idHex, 16, 32)
	if err != nil {
		return nil, verificationError("a verifier key id is 8 hex digits")
	}
	raw, err := b64.DecodeString(keyB64)
	if err != nil || strings.ContainsAny(keyB64, "\r\n") {
		return nil, verificationError("a verifier key is standard base64")
	}
	if len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return nil, verificationError("not an Ed25519 (type 0x01) verifier key")
	}
	key := ed25519.PublicKey(append([]byte(nil), raw[1:]...))
	if isSmallOrder(key) {
		return nil, verificationError("a small-order Ed25519 key")
	}
	if keyID(name, key) != uint32(id) {
		return nil, verificationError("the verifier key id does not match its name and key")
	}
	return &VerifierKey{Name: name, ID: uint32(id), Key: key}, nil
}

// Checkpoint is a signed tree head whose signature verified against the
// pinned key: origin (<host>/ledgers/<ledger id>), tree size and root.
type Checkpoint struct {
	Origin   string
	TreeSize uint64
	Root     Hash
	// Note is the signed note as received.
	Note string
}

// hasControl says whether text holds a control character other than
// newline: C0, DEL and C1 (U+0080–U+009F, such as NEL), which a note or an
// evidence file never carries and which could make a line read differently
// elsewhere than here. The text is valid UTF-8.
func hasControl(text string) bool {
	for _, r := range text {
		if r != '\n' && unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// openNote checks a signed note against key and returns its text (C2SP
// signed-note): valid UTF-8, no control characters but newline; split at
// the last blank line; one to 100 signature lines, each "— <name>
// <base64(key id || signature)>\n". Lines by other keys are ignored; every
// line by the key must verify; at least one must.
func openNote(note string, key *VerifierKey) (string, error) {
	if !utf8.ValidString(note) {
		return "", verificationError("the note is not valid UTF-8")
	}
	if hasControl(note) {
		return "", verificationError("the note has a control character other than newline (C0, DEL or C1)")
	}
	split := strings.LastIndex(note, "\n\n")
	if split < 0 {
		return "", verificationError("the note has no blank line before its signatures")
	}
	text, signatures := note[:split+1], note[split+2:]
	if !strings.HasSuffix(signatures, "\n") {
		return "", verificationError("the note's last signature line does not end with a newline")
	}
	lines := strings.Split(signatures[:len(signatures)-1], "\n")
	if len(lines) > maxSignatures {
		return "", verificationError("the note has more than %d signatures", maxSignatures)
	}
	verified := 0
	for i, line := range lines {
		rest := strings.TrimPrefix(line, "\u2014 ")
		if rest == line {
			return "", verificationError("signature line %d does not start with an em dash and a space", i+1)
		}
		name, encoded, found := strings.Cut(rest, " ")
		if !found {
			return "", verificationError("signature line %d has no signature", i+1)
		}
		if err := checkName(name); err != nil {
			return "", verificationError("signature line %d: %v", i+1, err)
		}
		raw, err := b64.DecodeString(encoded)
		if err != nil || len(raw) < 5 {
			return "", verificationError("signature line %d is not base64 of a key id and a signature", i+1)
		}
		if name != key.Name || binary.BigEndian.Uint32(raw[:4]) != key.ID {
			continue
		}
		if len(raw) != 4+ed25519.SignatureSize || !ed25519.Verify(key.Key, []byte(text), raw[4:]) {
			return "", verificationError("the checkpoint signature does not verify with the pinned key %s", key.Name)
		}
		verified++
	}
	if verified == 0 {
		return "", verificationError("no signature by the pinned key %s", key.Name)
	}
	return text, nil
}

// parseCheckpointBody reads a checkpoint body strictly (C2SP
// tlog-checkpoint): origin, tree size (decimal, no leading zeros, 64 bits)
// and base64 root, each line ending in a newline, then optional non-empty
// extension lines, which are ignored.
func parseCheckpointBody(text string) (origin string, size uint64, root Hash, err error) {
	if !strings.HasSuffix(text, "\n") {
		return "", 0, root, verificationError("the checkpoint body does not end with a newline")
	}
	lines := strings.Split(text[:len(text)-1], "\n")
	if len(lines) < 3 {
		return "", 0, root, verificationError("the checkpoint body needs origin, tree size and root lines")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, verificationError("the checkpoint origin is empty")
	}
	for _, r := range origin {
		if unicode.IsControl(r) {
			return "", 0, root, verificationError("the checkpoint origin has a control character")
		}
	}
	digits := lines[1]
	if digits == "" || (len(digits) > 1 && digits[0] == '0') || strings.Trim(digits, "0123456789") != "" {
		return "", 0, root, verificationError("the checkpoint tree size %q is not a decimal without leading zeros", digits)
	}
	if size, err = strconv.ParseUint(digits, 10, 64); err != nil {
		return "", 0, root, verificationError("the checkpoint tree size %q does not fit in 64 bits", digits)
	}
	raw, decodeErr := b64.DecodeString(lines[2])
	if decodeErr != nil || len(raw) != len(root) {
		return "", 0, root, verificationError("the checkpoint root is not base64 of 32 bytes")
	}
	copy(root[:], raw)
	for _, extension := range lines[3:] {
		if extension == "" {
			return "", 0, root, verificationError("the checkpoint has an empty extension line")
		}
	}
	return origin, size, root, nil
}

// VerifyCheckpoint checks a signed checkpoint note against the pinned key
// (docs/FORMAT.md §10) and parses its origin, tree size and root. The
// caller checks that the origin names the ledger it expects
// (OriginNamesLedger); Client.Checkpoint does.
func VerifyCheckpoint(note string, key *VerifierKey) (*Checkpoint, error) {
	if key == nil {
		return nil, newError(ErrInvalid, "no verifier key")
	}
	text, err := openNote(note, key)
	if err != nil {
		return nil, err
	}
	origin, size, root, err := parseCheckpointBody(text)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Origin: origin, TreeSize: size, Root: root, Note: note}, nil
}
