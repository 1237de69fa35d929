package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGeneratedCodeUpToDate(t *testing.T) {
	files, err := Generate(context.Background(), "../../v1/proto")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("../../v1", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("abi/v1/%s is stale (err %v): run go generate ./abi/...", name, err)
		}
	}
	existing, _ := filepath.Glob("../../v1/*_abi.go")
	for _, f := range existing {
		if _, ok := files[filepath.Base(f)]; !ok {
			t.Errorf("%s is not generated from any .proto file: remove it", f)
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	head := "syntax = \"proto3\";\npackage p;\nmessage A { string s = 1; }\n"
	for name, src := range map[string]string{
		"missing id":       head + "// @iface a\nservice S { rpc M(A) returns (A); }",
		"duplicate id":     head + "// @iface a\nservice S {\n// @id 0x0101\nrpc M(A) returns (A);\n// @id 0x0101\nrpc N(A) returns (A); }",
		"id outside block": head + "// @iface a\nservice S {\n// @id 0x0101\nrpc M(A) returns (A);\n// @id 0x0201\nrpc N(A) returns (A); }",
		"missing iface":    head + "service S {\n// @id 0x0101\nrpc M(A) returns (A); }",
		"oneof":            "syntax = \"proto3\";\npackage p;\nmessage A { oneof o { string s = 1; } }",
		"optional":         "syntax = \"proto3\";\npackage p;\nmessage A { optional string s = 1; }",
		"repeated int":     "syntax = \"proto3\";\npackage p;\nmessage A { repeated int32 s = 1; }",
		"nested":           "syntax = \"proto3\";\npackage p;\nmessage A { message B {} B b = 1; }",
		"proto2":           "syntax = \"proto2\";\npackage p;\nmessage A { optional string s = 1; }",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.proto"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Generate(context.Background(), dir); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{
		"learner_external_id": "LearnerExternalID", "ids": "IDs", "redirect_url": "RedirectURL",
		"session_not_on_or_after_unix": "SessionNotOnOrAfterUnix", "xml": "XML",
	} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
	if got := upperSnake("ErrorCode"); got != "ERROR_CODE" {
		t.Errorf("upperSnake = %q", got)
	}
	if !strings.HasPrefix(upperSnake("HTTPRequest"), "HTTPREQUEST") {
		t.Errorf("upperSnake(HTTPRequest) = %q", upperSnake("HTTPRequest"))
	}
}
