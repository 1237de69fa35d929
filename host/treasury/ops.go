package treasury

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/ubeu/gateway/host/ledger"
)

// Operation types: what a sponsored ledger write is for. The estimate of
// each comes from the operation table (Config.Operations).
const (
	OpDIDCreate          = "did_create"
	OpDIDUpdate          = "did_update"
	OpCredentialIssuance = "credential_issuance"
	OpBadgeIssuance      = "badge_issuance"
	OpBulkIssuance       = "bulk_issuance"
	OpDomainRegistration = "domain_registration"
	OpNameRegistration   = "name_registration"
	OpLMSSync            = "lms_sync"
	OpAnchorSetup        = "anchor_setup"
	OpManual             = "manual"
	// Ledger primitives: the operation of a write made outside any named
	// operation.
	OpTopicCreate   = "topic_create"
	OpMessageSubmit = "message_submit"
	OpTokenCreate   = "token_create"
	OpTokenMint     = "token_mint"
)

// Operations lists every operation type, in a fixed order: a type's index
// is its code in transaction memos, so new types are only ever appended.
var Operations = []string{
	OpDIDCreate, OpDIDUpdate, OpCredentialIssuance, OpBadgeIssuance, OpBulkIssuance,
	OpDomainRegistration, OpNameRegistration, OpLMSSync, OpAnchorSetup, OpManual,
	OpTopicCreate, OpMessageSubmit, OpTokenCreate, OpTokenMint,
}

func opCode(op string) (byte, bool) {
	for i, o := range Operations {
		if o == op {
			return byte(i), true
		}
	}
	return 0, false
}

// ValidOperation reports whether op is a known operation type.
func ValidOperation(op string) bool {
	_, ok := opCode(op)
	return ok
}

// IssuesCredentials reports whether op issues credentials, which are
// billed per unit.
func IssuesCredentials(op string) bool {
	return op == OpCredentialIssuance || op == OpBadgeIssuance || op == OpBulkIssuance || op == OpLMSSync
}

// primitive is the operation of a ledger write made outside a named one.
func primitive(txType string) string {
	switch txType {
	case ledger.TxCreateTopic:
		return OpTopicCreate
	case ledger.TxTokenCreate:
		return OpTokenCreate
	case ledger.TxTokenMint:
		return OpTokenMint
	}
	return OpMessageSubmit
}

// Microcents per cent and per dollar. Costs are kept in millionths of a US
// cent so that Hedera's fees ($0.0008 a message) are exact integers.
const (
	MicrocentsPerCent   = 1_000_000
	MicrocentsPerDollar = 100 * MicrocentsPerCent
	tinybarsPerHbar     = 100_000_000
)

// ErrAmount is a malformed, negative or absurd amount.
var ErrAmount = errors.New("treasury: bad amount")

// MaxEstimateMicrocents bounds any one estimate: $1,000.
const MaxEstimateMicrocents = 1000 * MicrocentsPerDollar

// ParseUSD parses a non-negative decimal amount of US dollars ("0.0008",
// "0.02", "1") into microcents, exactly: more than 8 decimal places, a sign,
// an exponent or more than MaxEstimateMicrocents is an error.
func ParseUSD(s string) (int64, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "$"))
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 8 || strings.ContainsAny(whole+frac, "+-eE_ ") {
		return 0, fmt.Errorf("%w: %q is not a dollar amount with at most 8 decimals", ErrAmount, s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	frac += strings.Repeat("0", 8-len(frac))
	f, err := strconv.ParseUint(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	v := int64(w)*MicrocentsPerDollar + int64(f)
	if v > MaxEstimateMicrocents {
		return 0, fmt.Errorf("%w: %q is more than $1,000", ErrAmount, s)
	}
	return v, nil
}

// FormatUSD renders microcents as dollars with as many decimals as needed
// (at least two).
func FormatUSD(mc int64) string {
	neg := mc < 0
	if neg {
		mc = -mc
	}
	s := fmt.Sprintf("%d.%08d", mc/MicrocentsPerDollar, mc%MicrocentsPerDollar)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	if neg {
		s = "-" + s
	}
	return s
}

// mulDiv is a*b/c rounded half up, for non-negative a, b and positive c,
// without overflow in the product; ok is false if the result does not fit.
func mulDiv(a, b, c int64) (int64, bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	lo, carry := bits.Add64(lo, uint64(c)/2, 0)
	hi += carry
	if hi >= uint64(c) {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		return 0, false
	}
	return int64(q), true
}

// ToTinybars converts microcents to tinybars at rate, rounded half up.
func ToTinybars(mc int64, rate ledger.ExchangeRate) (int64, error) {
	if err := rate.Check(); err != nil {
		return 0, err
	}
	// tinybars = mc / 1e6 cents × HbarEquiv / CentEquiv HBAR × 1e8
	//          = mc × HbarEquiv × 100 / CentEquiv
	num, ok := mulDiv(mc, rate.HbarEquiv*100, rate.CentEquiv)
	if !ok {
		return 0, fmt.Errorf("%w: %d microcents overflow at %d HBAR = %d cents", ErrAmount, mc, rate.HbarEquiv, rate.CentEquiv)
	}
	return num, nil
}

// ToMicrocents converts tinybars to microcents at rate, rounded half up.
func ToMicrocents(tb int64, rate ledger.ExchangeRate) (int64, error) {
	if err := rate.Check(); err != nil {
		return 0, err
	}
	mc, ok := mulDiv(tb, rate.CentEquiv, rate.HbarEquiv*100)
	if !ok {
		return 0, fmt.Errorf("%w: %d tinybars overflow", ErrAmount, tb)
	}
	return mc, nil
}
