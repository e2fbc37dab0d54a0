package auditstore

// A live AuditStore for the tests: the test command starts the server
// binary on a fresh data directory, bootstraps an account and passes
// AUDITSTORE_TEST_URL, AUDITSTORE_TEST_ADMIN_KEY and AUDITSTORE_TEST_CA
// (its self-signed certificate). Each test makes a ledger and keys of its
// own.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

type liveEnv struct {
	base        string
	ca          string
	caPEM       []byte
	ledger      string
	writer      string
	reader      string
	verifierKey string
}

func live(t *testing.T) *liveEnv {
	t.Helper()
	base := os.Getenv("AUDITSTORE_TEST_URL")
	if base == "" {
		t.Skip("AUDITSTORE_TEST_URL is unset: run the live tests with `make test`, which starts a server")
	}
	admin, ca := os.Getenv("AUDITSTORE_TEST_ADMIN_KEY"), os.Getenv("AUDITSTORE_TEST_CA")
	if admin == "" || ca == "" {
		t.Fatal("AUDITSTORE_TEST_ADMIN_KEY and AUDITSTORE_TEST_CA are needed with AUDITSTORE_TEST_URL")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatalf("AUDITSTORE_TEST_CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("AUDITSTORE_TEST_CA holds no certificate")
	}
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(method, path string, body interface{}) []byte {
		var reader io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			reader = bytes.NewReader(data)
		}
		request, _ := http.NewRequest(method, base+"/v1"+path, reader)
		request.Header.Set("Authorization", "Bearer "+admin)
		request.Header.Set("Content-Type", "application/json")
		answer, err := httpClient.Do(request)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer answer.Body.Close()
		data, _ := io.ReadAll(answer.Body)
		if answer.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %s", path, answer.StatusCode, data)
		}
		return data
	}
	field := func(data []byte, name string) string {
		var out map[string]interface{}
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		value, _ := out[name].(string)
		return value
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := fmt.Sprintf("go-%d-%s", time.Now().UnixNano(), hex.EncodeToString(suffix[:]))
	env := &liveEnv{base: base, ca: ca, caPEM: pem}
	env.ledger = field(call("POST", "/ledgers", map[string]string{"name": name}), "id")
	env.writer = field(call("POST", "/keys", map[string]interface{}{"name": name + "-w", "permission": "write", "ledgers": []string{env.ledger}}), "secret")
	env.reader = field(call("POST", "/keys", map[string]interface{}{"name": name + "-r", "permission": "read", "ledgers": []string{env.ledger}}), "secret")
	env.verifierKey = strings.TrimSpace(string(call("GET", "/checkpoint-key", nil)))
	if env.ledger == "" || env.writer == "" || env.reader == "" || env.verifierKey == "" {
		t.Fatal("the ledger, keys or verifier key are missing")
	}
	return env
}

// client is a client of the live server with key, the test's ledger and
// the pinned verifier key.
func (env *liveEnv) client(t *testing.T, key string, config Config) *Client {
	t.Helper()
	config.BaseURL, config.APIKey, config.CACertificateFile = env.base, key, env.ca
	if config.Ledger == "" {
		config.Ledger = env.ledger
	}
	if config.VerifierKey == "" {
		config.VerifierKey = env.verifierKey
	}
	return testClient(t, config)
}

// testContext ends with the test's deadline, or in a minute.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func invoice(n int) Event {
	return Event{
		Actor:    Party{Type: "user", ID: fmt.Sprintf("u_%d", n%5)},
		Action:   "invoice.updated",
		Resource: Party{Type: "invoice", ID: fmt.Sprintf("inv_%d", n)},
		Metadata: map[string]interface{}{"n": n},
	}
}

func invoices(from, to int) []Event {
	var out []Event
	for n := from; n < to; n++ {
		out = append(out, invoice(n))
	}
	return out
}
