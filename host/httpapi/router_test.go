package httpapi

import "testing"

func TestRouter(t *testing.T) {
	r := newRouter()
	h := func(*Ctx) error { return nil }
	r.add("GET", "/healthz", "health", h)
	r.add("GET", "/api/v1/users/{userId}/limits", "limits.get", h)
	r.add("POST", "/api/v1/users/{userId}/limits/check", "limits.check", h)
	r.add("GET", "/api/v1/users/me", "me", h)
	cases := []struct {
		method, path, name string
		params             map[string]string
		mismatch           bool
	}{
		{"GET", "/healthz", "health", nil, false},
		{"HEAD", "/healthz", "health", nil, false},
		{"POST", "/healthz", "", nil, true},
		{"GET", "/api/v1/users/me", "me", nil, false},
		{"GET", "/api/v1/users/u1/limits", "limits.get", map[string]string{"userId": "u1"}, false},
		{"POST", "/api/v1/users/u1/limits/check", "limits.check", map[string]string{"userId": "u1"}, false},
		{"GET", "/api/v1/users/u1/limits/check", "", nil, true},
		{"GET", "/api/v1/users//limits", "", nil, false},
		{"GET", "/api/v1/users/u1/limits/extra", "", nil, false},
		{"GET", "/api/v1/users/u1", "", nil, false},
		{"GET", "/nope", "", nil, false},
	}
	for _, c := range cases {
		var ps []param
		rt, mm := r.match(c.method, c.path, &ps)
		name := ""
		if rt != nil {
			name = rt.Name
		}
		if name != c.name || mm != c.mismatch {
			t.Errorf("%s %s: route %q mismatch %v, want %q %v", c.method, c.path, name, mm, c.name, c.mismatch)
		}
		if len(ps) != len(c.params) {
			t.Errorf("%s %s: params %v", c.method, c.path, ps)
		}
		for _, p := range ps {
			if c.params[p.name] != p.value {
				t.Errorf("%s %s: param %s=%s", c.method, c.path, p.name, p.value)
			}
		}
	}
}

// FuzzRouter: any path matches at most one route, with parameters that are
// non-empty single segments.
func FuzzRouter(f *testing.F) {
	r := newRouter()
	h := func(*Ctx) error { return nil }
	r.add("GET", "/api/v1/users/{userId}/limits", "limits.get", h)
	r.add("GET", "/a/{x}/{y}", "xy", h)
	for _, s := range []string{"/api/v1/users/u/limits", "/a/1/2", "//", "/a//2", "/a/1/2/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		var ps []param
		rt, _ := r.match("GET", path, &ps)
		if rt == nil {
			if len(ps) != 0 {
				t.Fatalf("params left behind: %v", ps)
			}
			return
		}
		for _, p := range ps {
			if p.value == "" {
				t.Fatalf("empty parameter for %q", path)
			}
			for i := 0; i < len(p.value); i++ {
				if p.value[i] == '/' {
					t.Fatalf("parameter spans segments: %q", p.value)
				}
			}
		}
	})
}

func BenchmarkRouterPattern(b *testing.B) {
	r := newRouter()
	h := func(*Ctx) error { return nil }
	r.add("GET", "/api/v1/users/{userId}/limits", "limits.get", h)
	ps := make([]param, 0, 4)
	for b.Loop() {
		ps = ps[:0]
		r.match("GET", "/api/v1/users/1234/limits", &ps)
	}
}
