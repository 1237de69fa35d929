package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAccessLogLineIsJSON(t *testing.T) {
	var buf bytes.Buffer
	a := newAccessLog(&buf)
	a.write(&accessEntry{time: time.Unix(1, 5).UTC(), method: "GET", route: "x", path: "/a\"b\\c\n<d>\x01\xff\u2028é",
		principal: "p", auth: "jwt", ip: "127.0.0.1", id: "r-1", status: 200, dur: 1500})
	a.Close()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if m["path"] != "/a\"b\\c\n<d>\x01\ufffd\u2028é" || m["status"] != float64(200) || m["duration"] != float64(1500) || m["msg"] != "request" || m["requestId"] != "r-1" {
		t.Fatalf("decoded %v", m)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\t\x00", "\xff\xfe", "\u2028\u2029", "é<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("%q: got %q want %q", s, got, w)
		}
	})
}
