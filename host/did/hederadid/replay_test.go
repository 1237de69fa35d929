package hederadid

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger"
)

// replaySequential is the reference replay: every message parsed and
// applied one by one in consensus order, each signature checked when its
// message is applied. After a cut that was met, the next applied message is
// searched the same way.
func replaySequential(id ID, msgs []ledger.Message, cut Cut) (*State, bool) {
	st := newState(id)
	found := cut.VersionID == ""
	stop := len(msgs)
	for i := range msgs {
		m := &msgs[i]
		if cut.VersionTime != nil && m.ConsensusTime.After(*cut.VersionTime) {
			stop = i
			break
		}
		p, err := parseEnvelope(m.Contents)
		if err != nil {
			continue
		}
		if st.apply(m, p) && cut.VersionID != "" && st.VersionID == cut.VersionID {
			found, stop = true, i+1
			break
		}
	}
	if found && (cut.VersionTime != nil || cut.VersionID != "") && st.Exists() && !st.deactivated {
		c := st.clone()
		for i := stop; i < len(msgs); i++ {
			p, err := parseEnvelope(msgs[i].Contents)
			if err == nil && c.apply(&msgs[i], p) {
				st.NextUpdate, st.NextVersionID = c.Updated, c.VersionID
				break
			}
		}
	}
	return st, found
}

// topicGen writes random did:hedera topics: several DIDs, each with a pool
// of keys (its root key, keys it may rotate to, an outsider's key), and a
// mix of valid, wrongly signed, duplicate, tampered and malformed messages.
type topicGen struct {
	r     *rand.Rand
	topic string
	dids  []genDID
	msgs  []ledger.Message
	clock time.Time
}

type genDID struct {
	id      ID
	str     string
	pool    []ed25519.PrivateKey // pool[0] is the root key
	current int                  // the key the generator believes is the owner
}

func newTopicGen(seed uint64, ndids, npool int) *topicGen {
	g := &topicGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), topic: "0.0.5", clock: time.Unix(1_700_000_000, 0).UTC()}
	for range ndids {
		var gd genDID
		for range npool {
			var s [32]byte
			binary.LittleEndian.PutUint64(s[:], g.r.Uint64())
			binary.LittleEndian.PutUint64(s[8:], g.r.Uint64())
			gd.pool = append(gd.pool, ed25519.NewKeyFromSeed(s[:]))
		}
		gd.id = ID{Network: "testnet", PublicKey: gd.pool[0].Public().(ed25519.PublicKey), TopicID: g.topic}
		gd.str = gd.id.String()
		g.dids = append(g.dids, gd)
	}
	return g
}

func (g *topicGen) add(b []byte) {
	switch g.r.IntN(40) {
	case 0: // same consensus time as the previous message
	case 1: // earlier than the previous message (not a real ledger)
		g.clock = g.clock.Add(-time.Millisecond)
	default:
		g.clock = g.clock.Add(time.Duration(1+g.r.IntN(3000)) * time.Microsecond)
	}
	g.msgs = append(g.msgs, ledger.Message{TopicID: g.topic, Sequence: uint64(len(g.msgs) + 1), ConsensusTime: g.clock, Contents: b})
}

func pubMB(k ed25519.PrivateKey) string {
	return did.EncodeMultikey(did.CodecEd25519Pub, k.Public().(ed25519.PublicKey))
}

// step appends one random message.
func (g *topicGen) step() {
	r := g.r
	if len(g.msgs) > 0 && r.IntN(15) == 0 { // a replayed message
		g.add(bytes.Clone(g.msgs[r.IntN(len(g.msgs))].Contents))
		return
	}
	if r.IntN(30) == 0 {
		g.add([]byte(`{"mode":"plain","message":{},"signature":""}`))
		return
	}
	gd := &g.dids[r.IntN(len(g.dids))]
	d := gd.str
	signer := gd.current
	if r.IntN(4) == 0 {
		signer = r.IntN(len(gd.pool))
	}
	op, ev := OpCreate, Event{}
	name := fmt.Sprintf("#s%d", r.IntN(4))
	switch k := r.IntN(20); {
	case k < 3:
		ev.DIDOwner = &OwnerEvent{ID: d + "#did-root-key", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: pubMB(gd.pool[0])}
	case k < 6: // rotation
		next := r.IntN(len(gd.pool))
		op = OpUpdate
		ev.DIDOwner = &OwnerEvent{ID: d + "#did-root-key", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: pubMB(gd.pool[next])}
		if signer == gd.current {
			gd.current = next
		}
	case k < 12:
		op = []string{OpCreate, OpUpdate, OpRevoke}[r.IntN(3)]
		ev.Service = &ServiceEvent{ID: d + name, Type: "LinkedDomains", ServiceEndpoint: "https://x.example/" + name[1:]}
	case k < 14:
		op = []string{OpCreate, OpUpdate, OpRevoke}[r.IntN(3)]
		ev.VerificationMethod = &MethodEvent{ID: d + "#key-" + name[2:], Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: pubMB(gd.pool[r.IntN(len(gd.pool))])}
	case k < 16:
		op = []string{OpCreate, OpUpdate, OpRevoke}[r.IntN(3)]
		ev.VerificationRelationship = &RelationshipEvent{ID: d + "#rel-" + name[2:], RelationshipType: "keyAgreement", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: pubMB(gd.pool[0])}
	case k < 18:
		op = OpUpdate
		ev.AlsoKnownAs = &AlsoKnownAsEvent{ID: d, AlsoKnownAs: []string{"https://aka.example/" + name[1:]}}
	default:
		if r.IntN(3) != 0 {
			ev.Service = &ServiceEvent{ID: d + name, Type: "T", ServiceEndpoint: "https://e"}
			break
		}
		op = OpDelete
		ev.DIDDeactivate = &DeactivateEvent{ID: d}
	}
	b, err := Sign(gd.pool[signer], op, d, ev, g.clock)
	if err != nil {
		panic(err)
	}
	if r.IntN(20) == 0 { // tampered after signing
		b = bytes.Replace(b, []byte(`"operation":"`+op), []byte(`"operation":"update`), 1)
	}
	g.add(b)
}

// create appends the valid DIDOwner create of DID i.
func (g *topicGen) create(i int) {
	gd := &g.dids[i]
	b, err := Sign(gd.pool[0], OpCreate, gd.str, Event{DIDOwner: &OwnerEvent{ID: gd.str + "#did-root-key", Type: TypeEd25519_2020, Controller: gd.str, PublicKeyMultibase: pubMB(gd.pool[0])}}, g.clock)
	if err != nil {
		panic(err)
	}
	g.add(b)
}

// compareReplays checks Replay against replaySequential for every DID of
// the generator and a range of cuts, and the topic cache's fold against the
// uncut replay.
func compareReplays(t *testing.T, g *topicGen) {
	t.Helper()
	msgs := g.msgs
	var cuts []Cut
	cuts = append(cuts, Cut{})
	for range 2 {
		if len(msgs) == 0 {
			break
		}
		m := msgs[g.r.IntN(len(msgs))]
		vt := m.ConsensusTime
		early := vt.Add(-time.Nanosecond)
		cuts = append(cuts, Cut{VersionTime: &vt}, Cut{VersionTime: &early}, Cut{VersionID: VersionID(m.ConsensusTime)},
			Cut{VersionTime: &early, VersionID: VersionID(m.ConsensusTime)})
	}
	cuts = append(cuts, Cut{VersionID: "1.000000001"})
	for _, gd := range g.dids {
		for _, cut := range cuts {
			want, wantFound := replaySequential(gd.id, msgs, cut)
			got, gotFound := Replay(gd.id, msgs, cut)
			if gotFound != wantFound || !reflect.DeepEqual(got, want) {
				t.Fatalf("DID %d, cut %+v: parallel replay differs from the sequential one:\nfound %v, want %v\ngot  %+v\nwant %+v", gd.id.PublicKey[:2], cut, gotFound, wantFound, got, want)
			}
		}
	}
	// The streamed replay of ResolveUncached, fed in random pages.
	for _, gd := range g.dids {
		want, _ := replaySequential(gd.id, msgs, Cut{})
		got, err := replayStreamed(gd.id, func(add func(ledger.Message)) error {
			for rest := msgs; len(rest) > 0; {
				n := 1 + g.r.IntN(len(rest))
				for _, m := range rest[:n] {
					add(m)
				}
				rest = rest[n:]
			}
			return nil
		})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DID %x: streamed replay differs from the sequential one (%v):\ngot  %+v\nwant %+v", gd.id.PublicKey[:2], err, got, want)
		}
	}
	// The topic cache, fed in random pages.
	tc := &topicCache{dids: map[string]*State{}}
	for rest := msgs; len(rest) > 0; {
		n := 1 + g.r.IntN(len(rest))
		tc.foldAll(rest[:n])
		rest = rest[n:]
	}
	for _, gd := range g.dids {
		want, _ := replaySequential(gd.id, msgs, Cut{})
		got := tc.dids[gd.str]
		if got == nil {
			if want.Exists() {
				t.Fatalf("topic cache lost DID %x", gd.id.PublicKey[:2])
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("topic cache differs from the sequential replay:\ngot  %+v\nwant %+v", got, want)
		}
	}
}

// TestReplayParallelMatchesSequential compares the parallel replay (and the
// cache's fold) with the one-by-one replay on random topics with several
// DIDs, rotations, forgeries, duplicates, tampering and malformed messages.
func TestReplayParallelMatchesSequential(t *testing.T) {
	n := 120
	if testing.Short() {
		n = 30
	}
	rotations, applied := 0, 0
	for seed := range uint64(n) {
		g := newTopicGen(seed, 1+int(seed%3), 3)
		for i := range g.dids {
			if seed%5 != 0 { // sometimes no valid create at all
				g.create(i)
			}
		}
		for range 10 + g.r.IntN(40) {
			g.step()
		}
		compareReplays(t, g)
		for _, gd := range g.dids {
			st, _ := Replay(gd.id, g.msgs, Cut{})
			if st.Exists() && !st.ownerKey.Equal(gd.id.PublicKey) {
				rotations++
			}
			applied += len(st.sigs)
		}
	}
	// The generator must actually exercise rotations.
	t.Logf("%d DIDs ended rotated, %d messages applied", rotations, applied)
	if rotations < n/10 || applied < n {
		t.Fatalf("weak generator: %d DIDs ended rotated, %d messages applied", rotations, applied)
	}
}

// TestReplayRotationReverify: after a rotation, a message signed by the old
// key is ignored and one signed by the new key applies, although both were
// checked ahead against the old key.
func TestReplayRotationReverify(t *testing.T) {
	g := newTopicGen(1, 1, 2)
	gd := g.dids[0]
	d := gd.str
	g.create(0)
	sign := func(k ed25519.PrivateKey, op string, ev Event) {
		b, err := Sign(k, op, d, ev, g.clock)
		if err != nil {
			t.Fatal(err)
		}
		g.add(b)
	}
	sv := func(n string) Event {
		return Event{Service: &ServiceEvent{ID: d + "#" + n, Type: "T", ServiceEndpoint: "https://e/" + n}}
	}
	sign(gd.pool[0], OpCreate, sv("a"))
	sign(gd.pool[0], OpUpdate, Event{DIDOwner: &OwnerEvent{ID: d + "#did-root-key", Type: TypeEd25519_2020, Controller: d, PublicKeyMultibase: pubMB(gd.pool[1])}})
	sign(gd.pool[0], OpCreate, sv("old"))
	sign(gd.pool[1], OpCreate, sv("new"))
	st, _ := Replay(gd.id, g.msgs, Cut{})
	if got := serviceIDs(st.Document()); !reflect.DeepEqual(got, []string{d + "#a", d + "#new"}) {
		t.Fatalf("services %v", got)
	}
	// Versioned: at the rotation, the next version is the "new" service.
	at := VersionID(g.msgs[2].ConsensusTime)
	st, found := Replay(gd.id, g.msgs, Cut{VersionID: at})
	if !found || st.VersionID != at || st.NextVersionID != VersionID(g.msgs[4].ConsensusTime) || !st.NextUpdate.Equal(g.msgs[4].ConsensusTime) {
		t.Fatalf("found %v, version %s, next %s %v", found, st.VersionID, st.NextVersionID, st.NextUpdate)
	}
	if md := st.Metadata(); md.NextVersionID != st.NextVersionID {
		t.Fatalf("metadata %+v", md)
	}
	st, _ = Replay(gd.id, g.msgs, Cut{})
	if st.NextVersionID != "" || !st.NextUpdate.IsZero() {
		t.Fatalf("current version has a next version: %s", st.NextVersionID)
	}
}

// TestTopicCacheBounded: the cache drops least recently used topics beyond
// MaxCachedDIDs, and dropped topics resolve again from the ledger.
func TestTopicCacheBounded(t *testing.T) {
	ctx := t.Context()
	l := newMemLedger()
	kv, s := newKV(t)
	svc, err := New(Options{Ledger: l, Keys: NewKeys(kv, s), Logger: slog.New(slog.DiscardHandler), MaxCachedDIDs: 2})
	if err != nil {
		t.Fatal(err)
	}
	var dids []string
	for range 4 {
		topic, _ := svc.CreateTopic(ctx)
		d, _, err := svc.Create(ctx, topic, CreateOptions{AlsoKnownAs: []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, d)
	}
	check := func() {
		t.Helper()
		svc.mu.Lock()
		defer svc.mu.Unlock()
		if len(svc.topics) > 2 || svc.cached > 2 || svc.lru.Len() != len(svc.topics) {
			t.Fatalf("%d topics, %d DIDs cached (lru %d), bound 2", len(svc.topics), svc.cached, svc.lru.Len())
		}
	}
	check()
	for range 2 {
		for _, d := range dids {
			if res := resolve(t, svc, d); len(res.Document.AlsoKnownAs) != 1 {
				t.Fatalf("%s: %+v", d, res.Document)
			}
			check()
		}
	}
	// The most recently used topic is the one kept.
	id, _ := Parse(dids[3])
	svc.mu.Lock()
	_, ok := svc.topics[id.TopicID]
	svc.mu.Unlock()
	if !ok {
		t.Fatal("most recently used topic dropped")
	}
}
