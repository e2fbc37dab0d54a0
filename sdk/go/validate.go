package auditstore

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
)

// maxSafeInteger is 2^53−1, the largest integer every double holds exactly
// (I-JSON, RFC 7493 §2.2).
const maxSafeInteger = 1<<53 - 1

// checkIngest checks an event Record is about to queue against the rules
// the server applies (docs/FORMAT.md §1, and §3's refusal of integers beyond
// ±(2^53−1)), so that a bad event is refused here, naming its field, rather
// than failing the whole background batch it would have joined: the server
// accepts or refuses a batch as a whole. Append leaves this to the server.
func checkIngest(e Event) error {
	n, err := normalise(e)
	if err == nil {
		if size := n.canonicalSize(n.entry()); size > maxEventBytes {
			err = fieldError("event", "the event is %d bytes as canonical JSON; the limit is %d", size, maxEventBytes)
		}
	}
	if err == nil {
		var known bool
		if known, err = checkExactNumbers(e.Metadata, "metadata"); !known {
			// A Go type of its own: checked in its JSON form.
			parsed, _ := parseJSON(n.metadata)
			_, err = checkExactNumbers(parsed, "metadata")
		}
	}
	var failure *Error
	if errors.As(err, &failure) {
		return &Error{Kind: ErrInvalid, Field: failure.Field, Message: "the event cannot be recorded: " + failure.Message}
	}
	return err
}

// checkExactNumbers refuses a number whose value is an integer beyond
// ±(2^53−1), however it is written (9007199254740993, 1e30), with its path
// as the server names it (metadata.order.total, metadata.lines[2].qty,
// metadata["a.b"]). known is false for a Go type it does not read.
func checkExactNumbers(value interface{}, path string) (known bool, err error) {
	refuse := func() (bool, error) {
		return true, fieldError(path, "%s is an integer beyond ±(2^53−1), which JSON hashing (RFC 8785) cannot "+
			"represent exactly; send it as a string", path)
	}
	switch v := value.(type) {
	case map[string]interface{}:
		names := make([]string, 0, len(v))
		for name := range v {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if known, err := checkExactNumbers(v[name], path+memberPath(name)); err != nil || !known {
				return known, err
			}
		}
	case []interface{}:
		for i, element := range v {
			if known, err := checkExactNumbers(element, path+"["+strconv.Itoa(i)+"]"); err != nil || !known {
				return known, err
			}
		}
	case int:
		if v > maxSafeInteger || v < -maxSafeInteger {
			return refuse()
		}
	case int64:
		if v > maxSafeInteger || v < -maxSafeInteger {
			return refuse()
		}
	case uint64:
		if v > maxSafeInteger {
			return refuse()
		}
	case uint:
		if uint64(v) > maxSafeInteger {
			return refuse()
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) > maxSafeInteger {
			return refuse()
		}
	case float32:
		if f := float64(v); f == math.Trunc(f) && math.Abs(f) > maxSafeInteger {
			return refuse()
		}
	case json.Number:
		if f, err := strconv.ParseFloat(string(v), 64); err == nil && f == math.Trunc(f) && math.Abs(f) > maxSafeInteger {
			return refuse()
		}
	case nil, bool, string, int8, int16, int32, uint8, uint16, uint32, map[string]string, []string:
	default:
		return false, nil
	}
	return true, nil
}

func memberPath(name string) string {
	plain := name != ""
	for i := 0; i < len(name) && plain; i++ {
		c := name[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if plain {
		return "." + name
	}
	var quoted strings.Builder
	quoted.WriteByte('[')
	text, _ := appendString(nil, name)
	quoted.Write(text)
	quoted.WriteByte(']')
	return quoted.String()
}
