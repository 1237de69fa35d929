package hedera

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

func row(seq int, ts string, data string, chunk string) string {
	ci := "null"
	if chunk != "" {
		ci = chunk
	}
	return fmt.Sprintf(`{"chunk_info":%s,"consensus_timestamp":%q,"message":%q,"payer_account_id":"0.0.10","running_hash":%q,"running_hash_version":3,"sequence_number":%d,"topic_id":"0.0.7"}`,
		ci, ts, base64.StdEncoding.EncodeToString([]byte(data)), base64.StdEncoding.EncodeToString([]byte{byte(seq)}), seq)
}

func assemble(t *testing.T, page string) []chunkMsg {
	t.Helper()
	rows, _, _, err := parseMirrorPage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	a := newAssembler("0.0.7")
	for _, r := range rows {
		a.add(r)
	}
	sortMessages(a.done)
	var out []chunkMsg
	for _, m := range a.done {
		out = append(out, chunkMsg{m.Sequence, string(m.Contents), m.TransactionID, m.ConsensusTime})
	}
	return out
}

type chunkMsg struct {
	seq  uint64
	data string
	tx   string
	ts   time.Time
}

func TestReassembly(t *testing.T) {
	ci := func(n, total int) string {
		return fmt.Sprintf(`{"initial_transaction_id":"0.0.10-1234567890-000000321","nonce":0,"number":%d,"total":%d,"scheduled":false}`, n, total)
	}
	// Interleaved: chunk 2 of 3 arrives before chunk 1 in the page (out of
	// order), a single message sits between chunks, chunk 3 is duplicated.
	page := `{"messages":[` +
		row(1, "1234567891.000000001", "lo", `{"initial_transaction_id":"0.0.10-1234567890-000000321","number":2,"total":3}`) + "," +
		row(2, "1234567891.000000002", "hel", ci(1, 3)) + "," +
		row(3, "1234567891.5", "single", "") + "," +
		row(4, "1234567892", " world", ci(3, 3)) + "," +
		row(4, "1234567892", " world", ci(3, 3)) + `],"links":{"next":null}}`
	got := assemble(t, page)
	if len(got) != 2 {
		t.Fatalf("got %d messages: %+v", len(got), got)
	}
	if got[0].data != "single" || got[0].seq != 3 || !got[0].ts.Equal(time.Unix(1234567891, 500000000)) {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].data != "hello world" || got[1].seq != 1 || got[1].tx != "0.0.10@1234567890.000000321" {
		t.Errorf("second = %+v", got[1])
	}

	// Incomplete groups are held back; garbage rows are skipped.
	page = `{"messages":[` + row(5, "1.000000001", "a", ci(1, 2)) + "," +
		row(6, "bad", "x", "") + "," +
		row(7, "2", "x", ci(3, 2)) + "," +
		`{"consensus_timestamp":"3","message":"!!","running_hash":"","sequence_number":8}` + `],"links":{"next":"/api/v1/x"}}`
	rows, next, skipped, err := parseMirrorPage([]byte(page))
	if err != nil || next != "/api/v1/x" || skipped != 3 || len(rows) != 1 {
		t.Fatalf("rows %d next %q skipped %d err %v", len(rows), next, skipped, err)
	}
	if got := assemble(t, page); len(got) != 0 {
		t.Errorf("incomplete group returned: %+v", got)
	}

	// Older mirror nodes sent initial_transaction_id as an object.
	old := `{"account_id":"0.0.10","transaction_valid_start":"1234567890.000000321","nonce":0,"scheduled":false}`
	page = `{"messages":[` + row(9, "5", "ab", fmt.Sprintf(`{"initial_transaction_id":%s,"number":1,"total":2}`, old)) + "," +
		row(10, "6", "cd", fmt.Sprintf(`{"initial_transaction_id":%s,"number":2,"total":2}`, old)) + `],"links":{"next":null}}`
	if got := assemble(t, page); len(got) != 1 || got[0].data != "abcd" || got[0].tx != "0.0.10@1234567890.000000321" {
		t.Errorf("object-form initial id: %+v", got)
	}
}

func TestTimestamps(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1234567890.000000001": time.Unix(1234567890, 1),
		"1234567890.5":         time.Unix(1234567890, 500000000),
		"1234567890":           time.Unix(1234567890, 0),
	} {
		got, err := parseTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".1", "1.", "1.1234567890", "-1.0", "1.-5", "1.+5", "a.b", "1.2.3"} {
		if _, err := parseTimestamp(in); err == nil {
			t.Errorf("parseTimestamp(%q) accepted", in)
		}
	}
	ts := time.Unix(1700000000, 42)
	if got, _ := parseTimestamp(formatTimestamp(ts)); !got.Equal(ts) {
		t.Errorf("round trip %v → %v", ts, got)
	}
}

func TestResolveLinks(t *testing.T) {
	m, err := newMirrorClient("https://proxy.example/mirror/api/v1/", nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.resolve("/api/v1/topics/0.0.7/messages?limit=2&timestamp=gt:1.000000002")
	if err != nil || got != "https://proxy.example/mirror/api/v1/topics/0.0.7/messages?limit=2&timestamp=gt:1.000000002" {
		t.Errorf("resolve = %q, %v", got, err)
	}
	if _, err := m.resolve("https://evil.example/api/v1/topics"); err == nil {
		t.Error("absolute link accepted")
	}
	if _, err := m.resolve("//evil.example/api/v1/topics"); err == nil {
		t.Error("scheme-relative link accepted")
	}
}

// FuzzMirrorMessages feeds arbitrary JSON to the page parser and the chunk
// assembler: no panics, complete messages only, contents equal to the sum
// of their chunks, results in consensus order.
func FuzzMirrorMessages(f *testing.F) {
	ci := `{"initial_transaction_id":"0.0.10-1234567890-000000321","number":%d,"total":%d}`
	f.Add([]byte(`{"messages":[` + row(1, "1.1", "he", fmt.Sprintf(ci, 1, 2)) + "," + row(2, "1.2", "llo", fmt.Sprintf(ci, 2, 2)) + `],"links":{"next":"/api/v1/topics/0.0.7/messages?timestamp=gt:1.2"}}`))
	f.Add([]byte(`{"messages":[` + row(1, "1", "x", "") + `],"links":{"next":null}}`))
	f.Add([]byte(`{"messages":[{"chunk_info":{"initial_transaction_id":{"account_id":"0.0.1","transaction_valid_start":"2.5"},"number":1,"total":1},"consensus_timestamp":"3.000000001","message":"","running_hash":"","sequence_number":3}]}`))
	f.Add([]byte(`{"messages":[{"chunk_info":{"initial_transaction_id":"--","number":0,"total":-1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, _, _, err := parseMirrorPage(data)
		if err != nil {
			return
		}
		a := newAssembler("0.0.7")
		var total int
		seen := map[uint64]bool{}
		for _, r := range rows {
			if r.number < 1 || r.number > r.total || r.total > maxChunkTotal {
				t.Fatalf("row with chunk %d/%d passed decoding", r.number, r.total)
			}
			if !seen[r.seq] {
				seen[r.seq] = true
				total += len(r.data)
			}
			a.add(r)
		}
		sortMessages(a.done)
		var out int
		for i, m := range a.done {
			out += len(m.Contents)
			if i > 0 && m.ConsensusTime.Before(a.done[i-1].ConsensusTime) {
				t.Fatal("messages out of consensus order")
			}
		}
		if out > total {
			t.Fatalf("reassembled %d bytes from %d bytes of chunks", out, total)
		}
		if merged := mergeMessages(a.done, a.done, 3); len(merged) > 3 || len(merged) > len(a.done) {
			t.Fatalf("merge of %d messages with themselves, limit 3, gave %d", len(a.done), len(merged))
		}
	})
}
