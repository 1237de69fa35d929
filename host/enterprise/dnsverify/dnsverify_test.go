package dnsverify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ubeu/gateway/host/seal"
	"github.com/ubeu/gateway/host/store"
	"github.com/ubeu/gateway/host/store/badgerstore"
)

var ctx = context.Background()

func newKV(t testing.TB) store.KV {
	t.Helper()
	s, _ := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	st, err := badgerstore.Open(ctx, badgerstore.Options{InMemory: true, Sealer: s,
		IndexKey: bytes.Repeat([]byte{2}, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.KV()
}

// zone is a tiny DNS server's data: owner name (canonical, with the final
// dot) to records. It answers like an authoritative server: the records of
// the name for the asked type, else its CNAME (not chased), else NXDOMAIN
// if the name has nothing at all.
type zone struct {
	mu  sync.Mutex
	rrs map[string][]dns.RR
	// truncUDP lists names whose UDP answers are truncated (TC bit, no
	// records), forcing the client to TCP.
	truncUDP map[string]bool
	udpQ     atomic.Int32
	tcpQ     atomic.Int32
}

func newZone() *zone {
	return &zone{rrs: map[string][]dns.RR{}, truncUDP: map[string]bool{}}
}

func (z *zone) add(t testing.TB, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	n := dns.CanonicalName(r.Header().Name)
	z.rrs[n] = append(z.rrs[n], r)
}

func (z *zone) set(t testing.TB, name string, rrs ...string) {
	z.mu.Lock()
	delete(z.rrs, dns.CanonicalName(name))
	z.mu.Unlock()
	for _, rr := range rrs {
		z.add(t, rr)
	}
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	if udp {
		z.udpQ.Add(1)
	} else {
		z.tcpQ.Add(1)
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z.mu.Lock()
	rrs, ok := z.rrs[name]
	trunc := z.truncUDP[name]
	z.mu.Unlock()
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case udp && trunc:
		m.Truncated = true
	default:
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) == 0 {
			for _, rr := range rrs {
				if rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
	}
	w.WriteMsg(m)
}

// serve runs a real miekg/dns server on loopback, UDP and TCP on the same
// port, and returns its address.
func serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc, ln = nil, nil
	}
	if pc == nil {
		t.Fatal("no free UDP+TCP port pair")
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	z   *zone
	c   *Challenger
	clk *clock
	kv  store.KV
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	z := newZone()
	addr := serve(t, z)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	kv := newKV(t)
	c, err := New(kv, Options{Server: addr, Timeout: 2 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{z: z, c: c, clk: clk, kv: kv}
}

func txt(name string, strs ...string) string {
	var b strings.Builder
	b.WriteString(name + " 300 IN TXT")
	for _, s := range strs {
		b.WriteString(` "` + s + `"`)
	}
	return b.String()
}

func TestInitiateShape(t *testing.T) {
	f := newFixture(t)
	ch, err := f.c.Initiate(ctx, "ent-1", "Acme.COM.")
	if err != nil {
		t.Fatal(err)
	}
	if ch.RecordName != "_gatewayd-challenge.acme.com" {
		t.Errorf("record name %q", ch.RecordName)
	}
	v, ok := strings.CutPrefix(ch.RecordValue, ValuePrefix)
	if !ok || len(v) != 52 {
		t.Errorf("record value %q", ch.RecordValue)
	}
	if raw, err := valueEncoding.DecodeString(v); err != nil || len(raw) != 32 {
		t.Errorf("value not 32 bytes of base32: %v", err)
	}
	if want := f.clk.now().Add(DefaultTTL); !ch.ExpiresAt.Equal(want) {
		t.Errorf("expires %v want %v", ch.ExpiresAt, want)
	}
	ch2, err := f.c.Initiate(ctx, "ent-2", "acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if ch2.RecordValue == ch.RecordValue {
		t.Error("two challenges share a value")
	}
	for _, bad := range []string{"", "com", "1.2.3.4", "[::1]", "acme..com", "-acme.com", "acme.localhost", "ac me.com", "bücher.de"} {
		if _, err := f.c.Initiate(ctx, "ent-1", bad); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("Initiate(%q) = %v, want ErrInvalidDomain", bad, err)
		}
	}
	if _, err := f.c.Initiate(ctx, "", "acme.com"); !errors.Is(err, ErrInvalidEnterprise) {
		t.Errorf("empty enterprise: %v", err)
	}
	if _, err := f.c.Verify(ctx, "nobody"); !errors.Is(err, ErrNoChallenge) {
		t.Errorf("Verify without challenge: %v", err)
	}
}

func TestVerifyCorrectValueAndSingleUse(t *testing.T) {
	f := newFixture(t)
	ch, err := f.c.Initiate(ctx, "ent-1", "acme.com")
	if err != nil {
		t.Fatal(err)
	}
	f.z.set(t, ch.RecordName, txt(ch.RecordName, "v=spf1 -all"), txt(ch.RecordName, ch.RecordValue))
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || len(res.Found) != 2 {
		t.Fatalf("result %+v", res)
	}
	if f.z.udpQ.Load() == 0 || f.z.tcpQ.Load() != 0 {
		t.Errorf("queries udp=%d tcp=%d, want UDP only", f.z.udpQ.Load(), f.z.tcpQ.Load())
	}
	rec, err := f.c.Get(ctx, "ent-1")
	if err != nil || rec.VerifiedAt.IsZero() || rec.Domain != "acme.com" {
		t.Fatalf("stored record %+v, %v", rec, err)
	}
	// Single use.
	if _, err := f.c.Verify(ctx, "ent-1"); !errors.Is(err, ErrAlreadyVerified) {
		t.Fatalf("second Verify: %v", err)
	}
}

func TestVerifyWrongValue(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	wrong := ch.RecordValue[:len(ch.RecordValue)-1] + "A"
	if wrong == ch.RecordValue {
		wrong = ch.RecordValue[:len(ch.RecordValue)-1] + "B"
	}
	f.z.set(t, ch.RecordName, txt(ch.RecordName, wrong))
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || len(res.Found) != 1 || res.Found[0] != wrong {
		t.Fatalf("result %+v", res)
	}
	// A prefix of the value, or the value with extra text, is no match.
	f.z.set(t, ch.RecordName, txt(ch.RecordName, ch.RecordValue+" "), txt(ch.RecordName, ch.RecordValue[:20]))
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || res.Verified {
		t.Fatalf("near miss: %+v %v", res, err)
	}
	// Not consumed: the right value still verifies afterwards.
	f.z.set(t, ch.RecordName, txt(ch.RecordName, ch.RecordValue))
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || !res.Verified {
		t.Fatalf("after fix: %+v %v", res, err)
	}
}

func TestVerifyMissingRecord(t *testing.T) {
	f := newFixture(t)
	_, _ = f.c.Initiate(ctx, "ent-1", "acme.com")
	res, err := f.c.Verify(ctx, "ent-1") // NXDOMAIN
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || len(res.Found) != 0 {
		t.Fatalf("result %+v", res)
	}
	// NODATA: the name exists with another type only.
	f.z.set(t, "_gatewayd-challenge.acme.com.", "_gatewayd-challenge.acme.com. 300 IN A 192.0.2.1")
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || res.Verified || len(res.Found) != 0 {
		t.Fatalf("NODATA: %+v %v", res, err)
	}
}

// A TXT record longer than 255 octets is published as several
// character-strings; they are concatenated without separator (RFC 7208
// §3.3 practice), and separate records stay separate values.
func TestVerifyMultipleStrings(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	v := ch.RecordValue
	f.z.set(t, ch.RecordName, txt(ch.RecordName, v[:10], v[10:40], v[40:]))
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil || !res.Verified || len(res.Found) != 1 || res.Found[0] != v {
		t.Fatalf("split value: %+v %v", res, err)
	}

	// Two halves in two separate records are not one value.
	ch, _ = f.c.Initiate(ctx, "ent-1", "acme.com")
	v = ch.RecordValue
	f.z.set(t, ch.RecordName, txt(ch.RecordName, v[:30]), txt(ch.RecordName, v[30:]))
	res, err = f.c.Verify(ctx, "ent-1")
	if err != nil || res.Verified || len(res.Found) != 2 {
		t.Fatalf("separate records: %+v %v", res, err)
	}

	// A long record (300 octets of other data before the value) in 255-octet
	// strings.
	long := strings.Repeat("x", 300)
	f.z.set(t, ch.RecordName, txt(ch.RecordName, long[:255], long[255:]), txt(ch.RecordName, v))
	res, err = f.c.Verify(ctx, "ent-1")
	if err != nil || !res.Verified || len(res.Found) != 2 || res.Found[0] != long {
		t.Fatalf("long record: %+v %v", res, err)
	}
}

func TestVerifyFollowsCNAME(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	// The server returns only the CNAME; the client must ask for the target,
	// through a second hop.
	f.z.set(t, ch.RecordName, ch.RecordName+". 300 IN CNAME hop.dns-provider.net.")
	f.z.set(t, "hop.dns-provider.net.", "hop.dns-provider.net. 300 IN CNAME acme.challenges.dns-provider.net.")
	f.z.set(t, "acme.challenges.dns-provider.net.", txt("acme.challenges.dns-provider.net.", ch.RecordValue))
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil || !res.Verified {
		t.Fatalf("CNAME chain: %+v %v", res, err)
	}
}

// chainHandler answers like a recursive resolver: the CNAME and the
// target's TXT in one answer.
func TestVerifyCNAMEInOneAnswer(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	cname, _ := dns.NewRR(ch.RecordName + ". 300 IN CNAME target.example.net.")
	tx, _ := dns.NewRR(txt("target.example.net.", ch.RecordValue))
	addr := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if dns.CanonicalName(r.Question[0].Name) == ch.RecordName+"." {
			m.Answer = []dns.RR{cname, tx}
		} else {
			m.Rcode = dns.RcodeServerFailure // must not be asked
		}
		w.WriteMsg(m)
	}))
	c, err := New(f.kv, Options{Server: addr, Timeout: 2 * time.Second, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Verify(ctx, "ent-1")
	if err != nil || !res.Verified {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestVerifyCNAMELoopAndDepth(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	f.z.set(t, ch.RecordName, ch.RecordName+". 300 IN CNAME a.loop.net.")
	f.z.set(t, "a.loop.net.", "a.loop.net. 300 IN CNAME b.loop.net.")
	f.z.set(t, "b.loop.net.", "b.loop.net. 300 IN CNAME a.loop.net.")
	if _, err := f.c.Verify(ctx, "ent-1"); !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("loop: %v", err)
	}
	// A long chain without loop is cut after maxCNAME hops.
	prev := ch.RecordName + "."
	for i := range maxCNAME + 2 {
		next := "c" + string(rune('a'+i)) + ".chain.net."
		f.z.set(t, prev, prev+" 300 IN CNAME "+next)
		prev = next
	}
	f.z.set(t, prev, txt(prev, ch.RecordValue))
	if _, err := f.c.Verify(ctx, "ent-1"); !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), "CNAMEs") {
		t.Fatalf("depth: %v", err)
	}
}

func TestVerifyTruncatedUsesTCP(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	// Many records, and the UDP answer is truncated: only TCP has them.
	var rrs []string
	for i := range 40 {
		rrs = append(rrs, txt(ch.RecordName, strings.Repeat(string(rune('a'+i%26)), 200)))
	}
	rrs = append(rrs, txt(ch.RecordName, ch.RecordValue))
	f.z.set(t, ch.RecordName, rrs...)
	f.z.mu.Lock()
	f.z.truncUDP[ch.RecordName+"."] = true
	f.z.mu.Unlock()
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil || !res.Verified {
		t.Fatalf("%v %v", res.Verified, err)
	}
	if len(res.Found) != maxFound {
		t.Errorf("found %d values, want the cap %d", len(res.Found), maxFound)
	}
	if f.z.udpQ.Load() != 1 || f.z.tcpQ.Load() != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 1 and 1", f.z.udpQ.Load(), f.z.tcpQ.Load())
	}
}

func TestVerifyServerFailure(t *testing.T) {
	f := newFixture(t)
	_, _ = f.c.Initiate(ctx, "ent-1", "acme.com")
	addr := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		w.WriteMsg(m)
	}))
	c, _ := New(f.kv, Options{Server: addr, Now: f.clk.now})
	if _, err := c.Verify(ctx, "ent-1"); !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), "REFUSED") {
		t.Fatalf("%v", err)
	}
}

func TestVerifyTimeout(t *testing.T) {
	f := newFixture(t)
	_, _ = f.c.Initiate(ctx, "ent-1", "acme.com")
	// A UDP socket that nobody reads: queries are never answered.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := New(f.kv, Options{Server: pc.LocalAddr().String(), Timeout: 300 * time.Millisecond, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Verify(ctx, "ent-1")
	el := time.Since(start)
	if !errors.Is(err, ErrLookup) {
		t.Fatalf("err %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("not a timeout: %v", err)
	}
	if el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("took %v for a 300ms timeout", el)
	}
	// The caller's own deadline is honoured too.
	c2, _ := New(f.kv, Options{Server: pc.LocalAddr().String(), Timeout: time.Minute, Now: f.clk.now})
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c2.Verify(cctx, "ent-1"); !errors.Is(err, ErrLookup) {
		t.Fatalf("ctx deadline: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v for a 200ms context deadline", el)
	}
	// Nothing was recorded.
	if rec, _ := f.c.Get(ctx, "ent-1"); !rec.VerifiedAt.IsZero() {
		t.Error("timed-out verification recorded")
	}
}

func TestVerifyExpired(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	f.z.set(t, ch.RecordName, txt(ch.RecordName, ch.RecordValue))
	f.clk.add(DefaultTTL - time.Second)
	f.clk.add(time.Second)
	if _, err := f.c.Verify(ctx, "ent-1"); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	if f.z.udpQ.Load() != 0 {
		t.Error("expired challenge still looked up")
	}
	// A new challenge works again.
	ch, _ = f.c.Initiate(ctx, "ent-1", "acme.com")
	f.z.set(t, ch.RecordName, txt(ch.RecordName, ch.RecordValue))
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || !res.Verified {
		t.Fatalf("after re-initiate: %+v %v", res, err)
	}
}

func TestReinitiateInvalidatesOld(t *testing.T) {
	f := newFixture(t)
	old, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	f.z.set(t, old.RecordName, txt(old.RecordName, old.RecordValue))
	nw, err := f.c.Initiate(ctx, "ent-1", "acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if nw.RecordValue == old.RecordValue || nw.RecordName != old.RecordName {
		t.Fatalf("old %+v new %+v", old, nw)
	}
	res, err := f.c.Verify(ctx, "ent-1")
	if err != nil || res.Verified {
		t.Fatalf("old value verified: %+v %v", res, err)
	}
	// Re-initiating a verified challenge starts over.
	f.z.set(t, nw.RecordName, txt(nw.RecordName, nw.RecordValue))
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || !res.Verified {
		t.Fatalf("new value: %+v %v", res, err)
	}
	third, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	if rec, _ := f.c.Get(ctx, "ent-1"); !rec.VerifiedAt.IsZero() || rec.RecordValue != third.RecordValue {
		t.Fatalf("record after re-initiate %+v", rec)
	}
	if res, err := f.c.Verify(ctx, "ent-1"); err != nil || res.Verified {
		t.Fatalf("stale published value verified the new challenge: %+v %v", res, err)
	}
}

// Concurrent verifications of one challenge: exactly one succeeds.
func TestVerifyConcurrentSingleUse(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	f.z.set(t, ch.RecordName, txt(ch.RecordName, ch.RecordValue))
	var ok, used atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			res, err := f.c.Verify(ctx, "ent-1")
			switch {
			case err == nil && res.Verified:
				ok.Add(1)
			case errors.Is(err, ErrAlreadyVerified):
				used.Add(1)
			default:
				t.Errorf("%+v %v", res, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || used.Load() != 7 {
		t.Fatalf("ok=%d used=%d", ok.Load(), used.Load())
	}
}

func TestSystemResolverConfig(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/resolv.conf"
	if err := writeFile(p, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"); err != nil {
		t.Fatal(err)
	}
	c, err := New(newKV(t), Options{ResolvConf: p})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}
	got, err := c.res.servers()
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("servers %v %v", got, err)
	}
	// The file is read at each lookup: a machine without resolvers still
	// starts, and the lookup fails with ErrLookup.
	if err := writeFile(p, "# nothing\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.res.servers(); !errors.Is(err, ErrLookup) {
		t.Fatalf("empty resolv.conf: %v", err)
	}
	if _, err := New(newKV(t), Options{ResolvConf: dir + "/missing"}); err != nil {
		t.Fatalf("New must not need the file: %v", err)
	}
	c, _ = New(newKV(t), Options{Server: "127.0.0.1"})
	if got, _ := c.res.servers(); got[0] != "127.0.0.1:53" {
		t.Fatalf("default port: %v", got)
	}
}

// With several nameservers (the system resolver case), a dead first server
// gets only its share of the time and the next one answers.
func TestResolverFailsOverToNextServer(t *testing.T) {
	z := newZone()
	good := serve(t, z)
	z.set(t, "_gatewayd-challenge.acme.com.", txt("_gatewayd-challenge.acme.com.", "hello"))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := &resolver{fixed: []string{pc.LocalAddr().String(), good}}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	vals, err := r.lookupTXT(cctx, "_gatewayd-challenge.acme.com")
	if err != nil || len(vals) != 1 || vals[0] != "hello" {
		t.Fatalf("%v %v", vals, err)
	}
}

// Records in the answer whose owner is not the name asked (nor a CNAME
// target on the chain) are ignored.
func TestVerifyIgnoresForeignOwners(t *testing.T) {
	f := newFixture(t)
	ch, _ := f.c.Initiate(ctx, "ent-1", "acme.com")
	foreign, _ := dns.NewRR(txt("evil.net.", ch.RecordValue))
	addr := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{foreign}
		w.WriteMsg(m)
	}))
	c, _ := New(f.kv, Options{Server: addr, Now: f.clk.now})
	res, err := c.Verify(ctx, "ent-1")
	if err != nil || res.Verified || len(res.Found) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}
