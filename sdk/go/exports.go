package auditstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Exports (docs/SDK.md §5): start one, wait for it with progress, download
// the file checked against the SHA-256 the export reported. The file itself
// is verified offline by `auditstore verify` (docs/FORMAT.md §13).

// ExportRequest is what to export: a format (jsonl, csv or parquet), an
// optional seq range (both included) and the listing's filters.
type ExportRequest struct {
	Format       string  `json:"format"`
	FromSeq      *uint64 `json:"from_seq,omitempty"`
	ToSeq        *uint64 `json:"to_seq,omitempty"`
	ActorType    string  `json:"actor_type,omitempty"`
	ActorID      string  `json:"actor_id,omitempty"`
	Action       string  `json:"action,omitempty"`
	ResourceType string  `json:"resource_type,omitempty"`
	ResourceID   string  `json:"resource_id,omitempty"`
	From         string  `json:"from,omitempty"`
	To           string  `json:"to,omitempty"`
}

// Export is an export's status: pending, running, done (with SHA256),
// failed (with Reason) or expired.
type Export struct {
	ID            string `json:"id"`
	Ledger        string `json:"ledger"`
	Status        string `json:"status"`
	Format        string `json:"format"`
	FromSeq       uint64 `json:"from_seq"`
	ToSeq         uint64 `json:"to_seq"`
	TreeSize      uint64 `json:"tree_size"`
	EventsTotal   uint64 `json:"events_total"`
	EventsScanned uint64 `json:"events_scanned"`
	EventsWritten uint64 `json:"events_written"`
	ProofsWritten uint64 `json:"proofs_written"`
	Bytes         uint64 `json:"bytes"`
	SHA256        string `json:"sha256"`
	Reason        string `json:"reason"`
	Download      string `json:"download"`
	CreatedAt     string `json:"created_at"`
	FinishedAt    string `json:"finished_at"`
	ExpiresAt     string `json:"expires_at"`
}

func exportPath(ledger, id string) string {
	return ledgerPath(ledger) + "/exports/" + url.PathEscape(id)
}

// StartExport asks for an export of the ledger; the server writes it in the
// background.
func (c *Client) StartExport(ctx context.Context, ledger string, request ExportRequest) (*Export, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Message: "the export request", Err: err}
	}
	var out Export
	if err := c.in.transport.getJSON(ctx, http.MethodPost, ledgerPath(ledger)+"/exports", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExportStatus reads an export's status.
func (c *Client) ExportStatus(ctx context.Context, ledger, id string) (*Export, error) {
	var out Export
	if err := c.in.transport.getJSON(ctx, http.MethodGet, exportPath(ledger, id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitExport polls the export every RetryBase until it is done (answering
// its status), failed or expired (ErrProtocol with the reason), or ctx is
// done; onProgress (may be nil) hears events_written of events_total after
// every poll.
func (c *Client) WaitExport(ctx context.Context, ledger, id string, onProgress func(written, total uint64)) (*Export, error) {
	for {
		status, err := c.ExportStatus(ctx, ledger, id)
		if err != nil {
			return nil, err
		}
		if onProgress != nil {
			onProgress(status.EventsWritten, status.EventsTotal)
		}
		switch status.Status {
		case "done":
			return status, nil
		case "failed", "expired":
			reason := status.Reason
			if reason == "" {
				reason = "no reason given"
			}
			return nil, newError(ErrProtocol, "export %s %s: %s", id, status.Status, reason)
		}
		timer := time.NewTimer(c.in.settings.RetryBase)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, &Error{Kind: ErrNetwork, Message: "waiting for export " + id, Err: ctx.Err()}
		case <-timer.C:
		}
	}
}

// DownloadExport streams a done export to path and checks the file's
// SHA-256 against the one the export reported; it answers that hash. The
// bytes go to a temporary file beside path, renamed into place only once
// they match, so path never holds a file that did not.
func (c *Client) DownloadExport(ctx context.Context, ledger, id, path string) (string, error) {
	status, err := c.ExportStatus(ctx, ledger, id)
	if err != nil {
		return "", err
	}
	if status.Status != "done" || status.SHA256 == "" {
		return "", newError(ErrProtocol, "export %s is not done (%s)", id, status.Status)
	}
	answer, err := c.in.transport.stream(ctx, exportPath(ledger, id)+"/download")
	if err != nil {
		return "", err
	}
	defer answer.Body.Close()
	file, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return "", &Error{Kind: ErrInvalid, Message: "the download's file", Err: err}
	}
	keep := false
	defer func() {
		if !keep {
			file.Close()
			os.Remove(file.Name())
		}
	}()
	digest := sha256.New()
	if _, err := io.Copy(io.MultiWriter(file, digest), answer.Body); err != nil {
		return "", &Error{Kind: ErrNetwork, Message: "downloading export " + id, Err: err}
	}
	if err := file.Sync(); err != nil {
		return "", &Error{Kind: ErrInvalid, Message: "the download's file", Err: err}
	}
	actual := hex.EncodeToString(digest.Sum(nil))
	if actual != status.SHA256 {
		return "", verificationError("the downloaded export has SHA-256 %s, the export reported %s", actual, status.SHA256)
	}
	if err := file.Close(); err != nil {
		return "", &Error{Kind: ErrInvalid, Message: "the download's file", Err: err}
	}
	if err := os.Rename(file.Name(), path); err != nil {
		return "", &Error{Kind: ErrInvalid, Message: "the download's file", Err: err}
	}
	keep = true
	return actual, nil
}
