package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ubeu/gateway/host/vc/dataintegrity"
	"github.com/ubeu/gateway/host/vc/vcjwt"
)

// PresentationOptions adjust VerifyPresentation.
type PresentationOptions struct {
	// Challenge and Domain, when set, must equal the proof's (the
	// verifier's nonce against replay, VC Data Integrity § 2.1); a
	// presentation without a proof then fails.
	Challenge string
	Domain    string
	// Now is the time validity is checked at; zero means now.
	Now time.Time
}

// PresentationVerification is the answer of VerifyPresentation: the
// presentation's own checks and one Verification per credential.
type PresentationVerification struct {
	Verified    bool            `json:"verified"`
	Format      string          `json:"format,omitempty"`
	Holder      string          `json:"holder,omitempty"`
	Checks      []Check         `json:"checks"`
	Errors      []string        `json:"errors"`
	Warnings    []string        `json:"warnings"`
	Credentials []*Verification `json:"credentialResults"`
}

// VerifyPresentation checks a verifiable presentation (VCDM 2.0 § 4.13):
// a JSON object with a Data Integrity proof of purpose authentication by a
// key of its holder's DID, or a vp+jwt (raw, as a JSON string, or an
// EnvelopedVerifiablePresentation), and every credential it carries. A
// presentation without a proof is accepted only when no challenge is
// required, with a warning.
func (s *Service) VerifyPresentation(ctx context.Context, input []byte, o PresentationOptions) (*PresentationVerification, error) {
	pv := &PresentationVerification{Checks: []Check{}, Errors: []string{}, Warnings: []string{}, Credentials: []*Verification{}}
	v := &Verification{}
	now := o.Now
	if now.IsZero() {
		now = s.now()
	}
	finish := func() (*PresentationVerification, error) {
		v.done()
		pv.Checks, pv.Errors = v.Checks, v.Errors
		pv.Warnings = append(pv.Warnings, v.Warnings...)
		pv.Verified = v.Verified
		for _, c := range pv.Credentials {
			if !c.Verified {
				pv.Verified = false
			}
		}
		return pv, ctx.Err()
	}
	if len(input) > 4*s.o.MaxCredentialBytes {
		v.add("format", Failed, fmt.Sprintf("presentation of %d bytes exceeds %d", len(input), 4*s.o.MaxCredentialBytes))
		return finish()
	}
	input = bytes.TrimSpace(input)
	tok, problem := joseToken(input, "EnvelopedVerifiablePresentation", "vp+jwt", "presentation")
	if problem != "" {
		v.add("format", Failed, problem)
		return finish()
	}
	var vp map[string]any
	if tok != "" {
		pv.Format = "vp+jwt"
		payload, _, err := vcjwt.VerifyPresentation(ctx, tok, func(ctx context.Context, kid string) (crypto.PublicKey, error) {
			return s.methodKey(ctx, kid, "authentication")
		})
		if err != nil {
			v.add("proof", Failed, trimPkg(err))
			return finish()
		}
		if json.Unmarshal(payload, &vp) != nil {
			v.add("format", Failed, "payload is not a JSON object")
			return finish()
		}
		v.add("format", Passed, "")
		v.add("proof", Passed, "vp+jwt signature")
		if o.Challenge != "" || o.Domain != "" {
			v.add("challenge", Failed, "a vp+jwt carries no Data Integrity challenge; use nonce/aud binding")
		}
	} else {
		pv.Format = FormatDataIntegrity
		if err := json.Unmarshal(input, &vp); err != nil {
			v.add("format", Failed, "not a JSON object: "+err.Error())
			return finish()
		}
		if !hasType(vp["type"], "VerifiablePresentation") {
			v.add("format", Failed, "type does not include VerifiablePresentation")
			return finish()
		}
		v.add("format", Passed, "")
		holder, _ := vp["holder"].(string)
		if m, ok := vp["holder"].(map[string]any); ok {
			holder, _ = m["id"].(string)
		}
		if _, signed := vp["proof"]; !signed {
			if o.Challenge != "" || o.Domain != "" {
				v.add("proof", Failed, "a challenge was required but the presentation has no proof")
				return finish()
			}
			v.add("proof", Skipped, "the presentation has no proof")
			v.Warnings = append(v.Warnings, "unsigned presentation: the holder is not authenticated")
		} else {
			res, err := dataintegrity.VerifyWithLimits(ctx, s.limits(), input, func(ctx context.Context, vm string) (ed25519.PublicKey, error) {
				if d, _, _ := strings.Cut(vm, "#"); holder != "" && d != holder {
					return nil, fmt.Errorf("%w: %s does not belong to the holder %s", errKey, vm, holder)
				}
				k, err := s.methodKey(ctx, vm, "authentication")
				if err != nil {
					return nil, err
				}
				ek, ok := k.(ed25519.PublicKey)
				if !ok {
					return nil, fmt.Errorf("%w: %s is not an Ed25519 key", errKey, vm)
				}
				return ek, nil
			})
			switch {
			case err != nil:
				v.add("proof", Failed, trimPkg(err))
				return finish()
			case res.ProofPurpose != "authentication":
				v.add("proof", Failed, fmt.Sprintf("proof purpose %q, want authentication", res.ProofPurpose))
				return finish()
			case !res.Expires.IsZero() && !now.Before(res.Expires):
				v.add("proof", Failed, "the proof expired")
				return finish()
			}
			v.add("proof", Passed, res.Cryptosuite+" by "+res.VerificationMethod)
			if o.Challenge != "" && res.Challenge != o.Challenge {
				v.add("challenge", Failed, "the proof's challenge is not the one required")
			} else if o.Challenge != "" {
				v.add("challenge", Passed, "")
			}
			if o.Domain != "" && res.Domain != o.Domain {
				v.add("domain", Failed, "the proof's domain is not the one required")
			} else if o.Domain != "" {
				v.add("domain", Passed, "")
			}
		}
		pv.Holder = holder
	}
	if raw, has := vp["verifiableCredential"]; has {
		list, ok := raw.([]any)
		if !ok {
			list = []any{raw}
		}
		if len(list) > 100 {
			v.add("verifiableCredential", Failed, "more than 100 credentials")
			return finish()
		}
		for _, c := range list {
			b, _ := json.Marshal(c)
			cv, err := s.Verify(ctx, b, VerifyOptions{Now: now})
			if err != nil {
				return nil, err
			}
			pv.Credentials = append(pv.Credentials, cv)
		}
	}
	return finish()
}
