package hederadid

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/did"
	"github.com/ubeu/gateway/host/ledger"
)

// State is the folded state of one DID after replaying its messages.
type State struct {
	DID         string
	owner       *OwnerEvent
	ownerKey    ed25519.PublicKey // current signing key; before creation, the DID's own key
	methods     []did.VerificationMethod
	fromRel     map[string]bool // methods added by a VerificationRelationship event only
	rels        map[string][]string
	services    []did.Service
	alsoKnownAs []string
	deactivated bool
	sigs        map[string]struct{} // signatures applied (§3: duplicates are disregarded)

	Created   time.Time // consensus time of the DIDOwner create
	Updated   time.Time // consensus time of the last applied message
	VersionID string    // consensus timestamp "seconds.nanos" of the last applied message
	Sequence  uint64    // topic sequence number of the last applied message

	// NextUpdate and NextVersionID describe the next applied message after
	// a versioned replay's cut (zero if none, or without a cut).
	NextUpdate    time.Time
	NextVersionID string
}

// newState returns the empty state of a DID, whose messages must first be
// signed by the key the DID was derived from (§2.1, §3.2.2).
func newState(id ID) *State {
	return &State{DID: id.String(), ownerKey: id.PublicKey}
}

// Exists reports whether a valid DIDOwner create has been applied.
func (s *State) Exists() bool { return s.owner != nil }

// Deactivated reports whether a delete has been applied.
func (s *State) Deactivated() bool { return s.deactivated }

// OwnerKey is the current DID root key: messages must be signed with it.
func (s *State) OwnerKey() ed25519.PublicKey { return s.ownerKey }

// clone returns a deep enough copy for applying further messages.
func (s *State) clone() *State {
	c := *s
	c.methods = slices.Clone(s.methods)
	c.services = slices.Clone(s.services)
	c.alsoKnownAs = slices.Clone(s.alsoKnownAs)
	c.fromRel = make(map[string]bool, len(s.fromRel))
	for k, v := range s.fromRel {
		c.fromRel[k] = v
	}
	c.rels = make(map[string][]string, len(s.rels))
	for k, v := range s.rels {
		c.rels[k] = slices.Clone(v)
	}
	c.sigs = make(map[string]struct{}, len(s.sigs))
	for k := range s.sigs {
		c.sigs[k] = struct{}{}
	}
	return &c
}

// VersionID formats a consensus time as a Hedera timestamp, the versionId
// of the document after the message with that consensus time.
func VersionID(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// apply applies one topic message if it is a valid message for this DID,
// and reports whether it did. Invalid, unsigned, wrongly signed, duplicate
// or inapplicable messages are ignored (§3: "it is business application
// network members that … must validate"; §3.1.2 Read).
func (s *State) apply(m *ledger.Message, p *parsed) bool {
	if p == nil || p.msg.DID != s.DID || s.deactivated {
		return false
	}
	if _, dup := s.sigs[string(p.sig)]; dup {
		return false
	}
	if !p.verify(s.ownerKey) {
		return false
	}
	ev, err := p.event()
	if err != nil {
		return false
	}
	if !s.applyEvent(p.msg.Operation, ev) {
		return false
	}
	if s.sigs == nil {
		s.sigs = make(map[string]struct{})
	}
	s.sigs[string(p.sig)] = struct{}{}
	if s.Created.IsZero() {
		s.Created = m.ConsensusTime
	}
	s.Updated = m.ConsensusTime
	s.VersionID = VersionID(m.ConsensusTime)
	s.Sequence = m.Sequence
	return true
}

func (s *State) inDID(id string) bool {
	rest, ok := strings.CutPrefix(id, s.DID)
	return ok && len(rest) > 1 && rest[0] == '#'
}

func (s *State) applyEvent(op string, ev *Event) bool {
	// §3.1.2 step 3.1: nothing applies before the DIDOwner create.
	if s.owner == nil {
		if op != OpCreate || ev.DIDOwner == nil {
			return false
		}
		o := ev.DIDOwner
		key, err := decodeEd25519(o.PublicKeyMultibase)
		// The first owner key must be the one the DID was derived from.
		if err != nil || !key.Equal(s.ownerKey) || o.ID != s.DID+"#did-root-key" || !validMethodType(o.Type) || o.Controller == "" {
			return false
		}
		s.owner = o
		return true
	}
	if op == OpDelete {
		// §3.1.5: the payload of a delete is ignored.
		s.deactivated = true
		return true
	}
	switch {
	case ev.DIDOwner != nil:
		// §3.2.2: a change of controller is a DIDOwner event in an update
		// message, signed by the current owner; it replaces #did-root-key.
		o := ev.DIDOwner
		if op != OpUpdate || o.ID != s.DID+"#did-root-key" || !validMethodType(o.Type) || o.Controller == "" {
			return false
		}
		key, err := decodeEd25519(o.PublicKeyMultibase)
		if err != nil {
			return false
		}
		s.owner, s.ownerKey = o, key
		return true
	case ev.VerificationMethod != nil:
		v := ev.VerificationMethod
		vm := did.VerificationMethod{ID: v.ID, Type: v.Type, Controller: v.Controller, PublicKeyMultibase: v.PublicKeyMultibase}
		return s.applyMethod(op, vm, false)
	case ev.VerificationRelationship != nil:
		v := ev.VerificationRelationship
		if !relationshipTypes[v.RelationshipType] {
			return false
		}
		vm := did.VerificationMethod{ID: v.ID, Type: v.Type, Controller: v.Controller, PublicKeyMultibase: v.PublicKeyMultibase}
		return s.applyRelationship(op, v.RelationshipType, vm)
	case ev.Service != nil:
		v := ev.Service
		if !s.inDID(v.ID) || (op != OpRevoke && (v.Type == "" || v.ServiceEndpoint == "")) {
			return false
		}
		i := slices.IndexFunc(s.services, func(x did.Service) bool { return x.ID == v.ID })
		sv := did.Service{ID: v.ID, Type: v.Type, ServiceEndpoint: v.ServiceEndpoint}
		switch {
		case op == OpCreate && i < 0:
			s.services = append(s.services, sv)
		case op == OpUpdate && i >= 0:
			s.services[i] = sv
		case op == OpRevoke && i >= 0:
			s.services = slices.Delete(s.services, i, i+1)
		default:
			return false
		}
		return true
	case ev.AlsoKnownAs != nil:
		v := ev.AlsoKnownAs
		if v.ID != s.DID || (op != OpCreate && op != OpUpdate) {
			return false
		}
		s.alsoKnownAs = slices.Clone(v.AlsoKnownAs)
		return true
	}
	return false
}

func validMethodType(t string) bool {
	return t == TypeEd25519_2020 || t == TypeEd25519_2018 || t == "Multikey"
}

func (s *State) validMethod(vm did.VerificationMethod) bool {
	if !s.inDID(vm.ID) || vm.ID == s.DID+"#did-root-key" || vm.Controller == "" || vm.Type == "" {
		return false
	}
	_, _, err := did.DecodeMultikey(vm.PublicKeyMultibase)
	return err == nil
}

func (s *State) applyMethod(op string, vm did.VerificationMethod, fromRel bool) bool {
	if !s.inDID(vm.ID) || vm.ID == s.DID+"#did-root-key" {
		return false
	}
	i := slices.IndexFunc(s.methods, func(x did.VerificationMethod) bool { return x.ID == vm.ID })
	switch op {
	case OpCreate:
		if i >= 0 || !s.validMethod(vm) {
			return false
		}
		s.methods = append(s.methods, vm)
		if fromRel {
			if s.fromRel == nil {
				s.fromRel = make(map[string]bool)
			}
			s.fromRel[vm.ID] = true
		}
	case OpUpdate:
		if i < 0 || !s.validMethod(vm) {
			return false
		}
		s.methods[i] = vm
	case OpRevoke:
		if i < 0 {
			return false
		}
		s.methods = slices.Delete(s.methods, i, i+1)
		delete(s.fromRel, vm.ID)
		for k, ids := range s.rels {
			s.rels[k] = slices.DeleteFunc(ids, func(x string) bool { return x == vm.ID })
		}
	default:
		return false
	}
	return true
}

func (s *State) applyRelationship(op, rel string, vm did.VerificationMethod) bool {
	ids := s.rels[rel]
	has := slices.Contains(ids, vm.ID)
	switch op {
	case OpCreate:
		if has || !s.validMethod(vm) {
			return false
		}
		if !slices.ContainsFunc(s.methods, func(x did.VerificationMethod) bool { return x.ID == vm.ID }) {
			s.applyMethod(OpCreate, vm, true)
		}
		if s.rels == nil {
			s.rels = make(map[string][]string)
		}
		s.rels[rel] = append(ids, vm.ID)
	case OpUpdate:
		if !has || !s.validMethod(vm) {
			return false
		}
		s.applyMethod(OpUpdate, vm, false)
	case OpRevoke:
		if !has {
			return false
		}
		s.rels[rel] = slices.DeleteFunc(ids, func(x string) bool { return x == vm.ID })
		if s.fromRel[vm.ID] && !s.referenced(vm.ID) {
			s.applyMethod(OpRevoke, vm, false)
		}
	default:
		return false
	}
	return true
}

func (s *State) referenced(id string) bool {
	for _, ids := range s.rels {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

// Document builds the W3C DID Core document of the state (§2.1 example,
// §3.2.2: #did-root-key in verificationMethod, authentication and
// assertionMethod). A deactivated DID has an empty document (§3.1.2 rule 1:
// only its id).
func (s *State) Document() *did.Document {
	doc := &did.Document{Context: did.StringList{did.ContextDIDv1, did.ContextEd25519_2020}, ID: s.DID}
	if s.deactivated || s.owner == nil {
		doc.Context = did.StringList{did.ContextDIDv1}
		return doc
	}
	if s.owner.Controller != s.DID {
		doc.Controller = did.StringList{s.owner.Controller}
	}
	root := s.DID + "#did-root-key"
	doc.VerificationMethod = make([]did.VerificationMethod, 0, 1+len(s.methods))
	doc.VerificationMethod = append(doc.VerificationMethod, did.VerificationMethod{
		ID: root, Type: s.owner.Type, Controller: s.owner.Controller, PublicKeyMultibase: s.owner.PublicKeyMultibase,
	})
	doc.VerificationMethod = append(doc.VerificationMethod, s.methods...)
	refs := func(rel string, withRoot bool) []did.VerificationRef {
		ids := s.rels[rel]
		if len(ids) == 0 && !withRoot {
			return nil
		}
		out := make([]did.VerificationRef, 0, len(ids)+1)
		if withRoot {
			out = append(out, did.VerificationRef{Ref: root})
		}
		for _, id := range ids {
			out = append(out, did.VerificationRef{Ref: id})
		}
		return out
	}
	doc.Authentication = refs("authentication", true)
	doc.AssertionMethod = refs("assertionMethod", true)
	doc.KeyAgreement = refs("keyAgreement", false)
	doc.CapabilityInvocation = refs("capabilityInvocation", false)
	doc.CapabilityDelegation = refs("capabilityDelegation", false)
	doc.Service = slices.Clone(s.services)
	doc.AlsoKnownAs = slices.Clone(s.alsoKnownAs)
	return doc
}

// Metadata returns the DID document metadata of the state.
func (s *State) Metadata() did.Metadata {
	return did.Metadata{
		Created: s.Created, Updated: s.Updated, Deactivated: s.deactivated, VersionID: s.VersionID,
		NextUpdate: s.NextUpdate, NextVersionID: s.NextVersionID,
	}
}

// Cut limits a replay for versioned resolution (DID Resolution §4.1
// versionTime, versionId).
type Cut struct {
	VersionTime *time.Time
	VersionID   string
}

// Replay folds a topic's messages, in consensus order, into the state of
// one DID. Messages for other DIDs of the topic, malformed, forged or
// inapplicable messages are skipped. With a cut, replay stops after the
// last message at or before VersionTime, or after the applied message whose
// versionId is VersionID (found reports whether it was met); the state's
// NextUpdate and NextVersionID then name the next message applied after the
// cut, if any.
//
// Signatures are checked in parallel ahead of the fold (see prepare); the
// result is the same as applying the messages one by one.
func Replay(id ID, msgs []ledger.Message, cut Cut) (st *State, found bool) {
	limit := len(msgs)
	switch {
	case cut.VersionTime != nil:
		if i := slices.IndexFunc(msgs, func(m ledger.Message) bool { return m.ConsensusTime.After(*cut.VersionTime) }); i >= 0 {
			limit = i
		}
	case cut.VersionID != "":
		// Only a message with that consensus time can end the replay
		// early, so signatures need checking up to the last such message.
		for i := len(msgs) - 1; i >= 0; i-- {
			if VersionID(msgs[i].ConsensusTime) == cut.VersionID {
				limit = i + 1
				break
			}
		}
	}
	return replayPrepared(id, msgs, limit, prepare(msgs[:limit], ownKey(id)), cut)
}

// ownKey is the keyOf of prepare for a replay of one DID: its messages are
// checked against the key the DID was derived from, the others skipped.
func ownKey(id ID) func(*ledger.Message, *parsed) ed25519.PublicKey {
	d := id.String()
	return func(_ *ledger.Message, p *parsed) ed25519.PublicKey {
		if p.msg.DID == d {
			return id.PublicKey
		}
		return nil
	}
}

// replayStreamed is Replay(id, msgs, Cut{}) where each delivers the
// messages, in order, by calling its argument: signature checks start as
// the first messages arrive (see pipeline). It returns each's error, if
// any.
func replayStreamed(id ID, each func(add func(ledger.Message)) error) (*State, error) {
	pl := newPipeline(ownKey(id))
	var msgs []ledger.Message
	if err := each(func(m ledger.Message) {
		msgs = append(msgs, m)
		pl.add(m)
	}); err != nil {
		pl.abort()
		return nil, err
	}
	st, _ := replayPrepared(id, msgs, len(msgs), pl.finish(), Cut{})
	return st, nil
}

// replayPrepared is Replay after prepare: ps holds the parsed
// msgs[:limit], their signatures checked ahead against ownKey.
func replayPrepared(id ID, msgs []ledger.Message, limit int, ps []*parsed, cut Cut) (st *State, found bool) {
	st = newState(id)
	d := st.DID
	found = cut.VersionID == ""
	stop := limit // index after the last message considered
	for i := range limit {
		key := st.ownerKey
		if !st.apply(&msgs[i], ps[i]) {
			continue
		}
		if !st.ownerKey.Equal(key) {
			reverify(ps, i+1, d, st.ownerKey)
		}
		if cut.VersionID != "" && st.VersionID == cut.VersionID {
			found, stop = true, i+1
			break
		}
	}
	switch {
	case cut.VersionID != "" && !found && cut.VersionTime == nil:
		// Not met: the answer is "not found", but the state is still the
		// one of the whole topic, as a one-by-one replay leaves it.
		for i := limit; i < len(msgs); i++ {
			if p, err := parseEnvelope(msgs[i].Contents); err == nil {
				st.apply(&msgs[i], p)
			}
		}
	case found && (cut.VersionTime != nil || cut.VersionID != ""):
		st.findNext(msgs[stop:])
	}
	return st, found
}

// findNext sets NextUpdate and NextVersionID from the first of msgs that
// would apply after the state.
func (s *State) findNext(msgs []ledger.Message) {
	if !s.Exists() || s.deactivated {
		return
	}
	c := s.clone()
	for i := range msgs {
		p, err := parseEnvelope(msgs[i].Contents)
		if err != nil {
			continue
		}
		if c.apply(&msgs[i], p) {
			s.NextUpdate, s.NextVersionID = c.Updated, c.VersionID
			return
		}
	}
}
