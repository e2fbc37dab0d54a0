package auditstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting this package reads or writes, so that a
// hostile document (or a cyclic Go value) cannot exhaust the stack.
const maxDepth = 1000

var errDepth = errors.New("nested too deeply")

// Canonicalize returns the RFC 8785 (JCS) canonical form of a JSON text:
// members sorted by their names as UTF-16 code units, numbers as
// ECMAScript's Number.prototype.toString writes the nearest double, strings
// with the minimal escapes (docs/FORMAT.md §3). The input must be I-JSON
// (RFC 7493): valid UTF-8, no lone surrogates, no duplicate member names.
func Canonicalize(data []byte) ([]byte, error) {
	value, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return appendCanonical(nil, value, 0)
}

// CanonicalJSON returns the RFC 8785 canonical form of a Go value: nil,
// bool, string, json.Number, the integer and float types,
// map[string]interface{}, []interface{}, map[string]string, []string and
// json.RawMessage directly, anything else through encoding/json.
func CanonicalJSON(value interface{}) ([]byte, error) {
	return appendCanonical(nil, value, 0)
}

// parseJSON reads one JSON value strictly (I-JSON), numbers as json.Number.
func parseJSON(data []byte) (interface{}, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("JSON text is not valid UTF-8")
	}
	if err := checkSurrogates(data); err != nil {
		return nil, err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	value, err := parseValue(decoder, 0)
	if err != nil {
		return nil, err
	}
	if _, err := decoder.Token(); err != io.EOF {
		return nil, errors.New("JSON text has data after its value")
	}
	return value, nil
}

func parseValue(decoder *json.Decoder, depth int) (interface{}, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	token, err := decoder.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := token.(json.Delim)
	if !ok {
		return token, nil
	}
	switch delim {
	case '{':
		object := map[string]interface{}{}
		for decoder.More() {
			key, err := decoder.Token()
			if err != nil {
				return nil, err
			}
			name, ok := key.(string)
			if !ok {
				return nil, errors.New("a member name is not a string")
			}
			if _, seen := object[name]; seen {
				return nil, errors.New("duplicate member name " + strconv.Quote(name))
			}
			if object[name], err = parseValue(decoder, depth+1); err != nil {
				return nil, err
			}
		}
		_, err = decoder.Token()
		return object, err
	case '[':
		array := []interface{}{}
		for decoder.More() {
			element, err := parseValue(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			array = append(array, element)
		}
		_, err = decoder.Token()
		return array, err
	}
	return nil, errors.New("unexpected " + delim.String())
}

// checkSurrogates refuses \u escapes of lone surrogates, which
// encoding/json would silently replace by U+FFFD. It runs on text the
// decoder accepts, so a quote or backslash outside a string cannot occur.
func checkSurrogates(data []byte) error {
	inString := false
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '"':
			inString = !inString
		case inString && data[i] == '\\' && i+1 < len(data):
			if data[i+1] != 'u' {
				i++
				continue
			}
			unit, ok := hexUnit(data, i+2)
			if !ok {
				return nil // the decoder reports the bad escape
			}
			i += 5
			switch {
			case unit >= 0xdc00 && unit <= 0xdfff:
				return errors.New("JSON text has a lone surrogate escape")
			case unit >= 0xd800 && unit <= 0xdbff:
				if i+6 >= len(data) || data[i+1] != '\\' || data[i+2] != 'u' {
					return errors.New("JSON text has a lone surrogate escape")
				}
				low, ok := hexUnit(data, i+3)
				if !ok || low < 0xdc00 || low > 0xdfff {
					return errors.New("JSON text has a lone surrogate escape")
				}
				i += 6
			}
		}
	}
	return nil
}

func hexUnit(data []byte, at int) (uint16, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[at:at+4]), 16, 16)
	return uint16(n), err == nil
}

func appendCanonical(dst []byte, value interface{}, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	switch v := value.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendString(dst, v)
	case json.Number:
		if !isJSONNumber(string(v)) {
			return nil, errors.New("not a JSON number: " + strconv.Quote(string(v)))
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, errors.New("number " + string(v) + " is not a finite double")
		}
		return appendNumber(dst, f)
	case float32, float64:
		return appendNumber(dst, reflect.ValueOf(v).Float())
	case int, int8, int16, int32, int64:
		// Beyond 2^53 an integer becomes its nearest double, as in JSON.
		return appendNumber(dst, float64(reflect.ValueOf(v).Int()))
	case uint, uint8, uint16, uint32, uint64:
		return appendNumber(dst, float64(reflect.ValueOf(v).Uint()))
	case map[string]interface{}:
		return appendObject(dst, len(v), func(yield func(string, interface{})) {
			for k, e := range v {
				yield(k, e)
			}
		}, depth)
	case map[string]string:
		return appendObject(dst, len(v), func(yield func(string, interface{})) {
			for k, e := range v {
				yield(k, e)
			}
		}, depth)
	case []interface{}:
		return appendArray(dst, len(v), func(i int) interface{} { return v[i] }, depth)
	case []string:
		return appendArray(dst, len(v), func(i int) interface{} { return v[i] }, depth)
	case json.RawMessage:
		parsed, err := parseJSON(v)
		if err != nil {
			return nil, err
		}
		return appendCanonical(dst, parsed, depth)
	}
	// Any other Go value (a struct, a typed slice or map) as encoding/json
	// writes it.
	data, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	parsed, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return appendCanonical(dst, parsed, depth)
}

type member struct {
	name  string
	units []uint16
	value interface{}
}

// appendObject writes members sorted by their names as UTF-16 code units
// (RFC 8785 §3.2.3): "😀" (D83D DE00) sorts before "～" (FF5E).
func appendObject(dst []byte, n int, each func(func(string, interface{})), depth int) ([]byte, error) {
	members := make([]member, 0, n)
	valid := true
	each(func(name string, value interface{}) {
		valid = valid && utf8.ValidString(name)
		members = append(members, member{name: name, units: utf16.Encode([]rune(name)), value: value})
	})
	if !valid {
		return nil, errors.New("a member name is not valid UTF-8")
	}
	sort.Slice(members, func(i, j int) bool { return lessUnits(members[i].units, members[j].units) })
	dst = append(dst, '{')
	var err error
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendString(dst, m.name); err != nil {
			return nil, err
		}
		dst = append(dst, ':')
		if dst, err = appendCanonical(dst, m.value, depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

func lessUnits(a, b []uint16) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func appendArray(dst []byte, n int, at func(int) interface{}, depth int) ([]byte, error) {
	dst = append(dst, '[')
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendCanonical(dst, at(i), depth+1); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// appendString writes a string as ECMAScript JSON.stringify does (RFC 8785
// §3.2.2.2): \" \\ \b \f \n \r \t, other characters below U+0020 as \u00xx
// in lower-case hex, everything else (/, U+007F, U+2028, non-BMP) as it is.
func appendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("a string is not valid UTF-8")
	}
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// appendNumber writes a double as ECMAScript's Number.prototype.toString
// (RFC 8785 §3.2.2.3): the shortest digits that read back as the same
// double, positional from 1e-6 up to 1e21, exponential outside; -0 as 0.
func appendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("NaN and infinities are not JSON")
	}
	if f == 0 {
		return append(dst, '0'), nil
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// d.ddde±x: the shortest round-tripping digits and the exponent.
	text := strconv.FormatFloat(f, 'e', -1, 64)
	mark := 0
	for mark < len(text) && text[mark] != 'e' {
		mark++
	}
	exponent, err := strconv.Atoi(text[mark+1:])
	if err != nil {
		return nil, err
	}
	digits := make([]byte, 0, 17)
	for i := 0; i < mark; i++ {
		if text[i] != '.' {
			digits = append(digits, text[i])
		}
	}
	k, n := len(digits), exponent+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for i := k; i < n; i++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := n; i < 0; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst, nil
}

// isJSONNumber checks RFC 8259 §6 number syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
