package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestBulkIdempotency: a bulk request retried with its Idempotency-Key
// answers the first request's results — the same credentials, byte for
// byte, the same anchor — and issues, counts and pays nothing more; the
// key reused for another body is refused.
func TestBulkIdempotency(t *testing.T) {
	z, tg := credentialsConfig(t)
	holder := tg.register("holder@example.com")
	did := primaryDID(t, tg, holder)
	iss := verifiedIssuer(t, tg, z, "registrar@example.com", acme())
	items := make([]any, 5)
	for i := range items {
		items[i] = map[string]any{"subjectDid": did, "credentialType": "course_completion", "claims": map[string]any{"course": fmt.Sprintf("CS%d", i)}}
	}
	items[2] = map[string]any{"subjectDid": "nope", "credentialType": "x"}
	body := map[string]any{"issuerId": iss.reg.EnterpriseID, "credentials": items}
	key := append(append([]string{}, iss.key...), "Idempotency-Key", "batch-2026-12-03")

	type answer struct {
		Issued, Failed int
		TransactionID  string
		MerkleRoot     string
		CostSponsored  int64
		Results        []struct {
			Index        int
			Status       string
			CredentialID string
			Credential   json.RawMessage
			Error        map[string]any
		}
	}
	first := tg.do("POST", "/api/v1/credentials/bulk-issue", body, key...)
	if first.status != 200 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("bulk: %d %s", first.status, first.body)
	}
	var a answer
	json.Unmarshal(first.body, &a)
	if a.Issued != 4 || a.Failed != 1 || a.TransactionID == "" || a.CostSponsored < 1 || a.Results[2].Status != "failed" {
		t.Fatalf("bulk: %s", first.body)
	}
	statsBefore := tg.stats(t)

	again := tg.do("POST", "/api/v1/credentials/bulk-issue", body, key...)
	if again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s", again.status, again.body)
	}
	var b answer
	json.Unmarshal(again.body, &b)
	if b.Issued != a.Issued || b.Failed != a.Failed || b.TransactionID != a.TransactionID || b.MerkleRoot != a.MerkleRoot || len(b.Results) != len(a.Results) {
		t.Fatalf("retry answered differently:\n%s\n%s", first.body, again.body)
	}
	for i := range a.Results {
		ra, rb := a.Results[i], b.Results[i]
		if ra.Status != rb.Status || ra.CredentialID != rb.CredentialID || !bytes.Equal(ra.Credential, rb.Credential) {
			t.Fatalf("item %d differs on retry: %+v / %+v", i, ra, rb)
		}
		if ra.Status == "failed" && (rb.Error["error"] != ra.Error["error"] || rb.Error["message"] != ra.Error["message"]) {
			t.Fatalf("item %d error differs: %v / %v", i, ra.Error, rb.Error)
		}
	}
	if v := tg.verify(t, b.Results[4].Credential); !v.Verified {
		t.Fatalf("replayed credential: %+v", v)
	}
	// Nothing more issued, counted or paid.
	if s := tg.stats(t); s.TotalSponsored != statsBefore.TotalSponsored || s.Operations != statsBefore.Operations {
		t.Fatalf("the retry was paid: %+v then %+v", statsBefore, s)
	}
	r := tg.do("GET", "/api/v1/enterprises/"+iss.reg.EnterpriseID+"/usage", nil, iss.key...)
	if m := r.json(t); m["credentialsIssued"] != float64(4) {
		t.Fatalf("usage after the retry: %s", r.body)
	}
	// The same key with another body is refused; another key issues anew.
	body["credentials"] = items[:1]
	wantError(t, tg.do("POST", "/api/v1/credentials/bulk-issue", body, key...), http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY")
	other := append(append([]string{}, iss.key...), "Idempotency-Key", "batch-2")
	if r := tg.do("POST", "/api/v1/credentials/bulk-issue", body, other...); r.status != 200 || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another key: %d %s", r.status, r.body)
	}
	long := append(append([]string{}, iss.key...), "Idempotency-Key", string(bytes.Repeat([]byte("k"), 256)))
	wantError(t, tg.do("POST", "/api/v1/credentials/bulk-issue", body, long...), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
}
