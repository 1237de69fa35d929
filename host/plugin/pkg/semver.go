package pluginpkg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a semantic version (semver.org 2.0.0). Build metadata is kept
// for display and ignored in comparisons, as the specification requires.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 string // pre-release identifiers without the leading '-'
	Build               string // build metadata without the leading '+'
}

// ParseVersion parses a strict semantic version "MAJOR.MINOR.PATCH[-pre][+build]".
// A leading "v" is refused: plugin versions name directories and must have one spelling.
func ParseVersion(s string) (Version, error) {
	v, parts, err := parsePartial(s)
	if err != nil {
		return Version{}, err
	}
	if parts != 3 {
		return Version{}, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	return v, nil
}

// parsePartial parses "1", "1.2", "1.2.3" with optional pre-release and build
// parts (the latter two only after three numbers). It reports how many numeric
// parts were given.
func parsePartial(s string) (Version, int, error) {
	var v Version
	if s == "" {
		return v, 0, errors.New("empty version")
	}
	core := s
	if i := strings.IndexByte(core, '+'); i >= 0 {
		v.Build = core[i+1:]
		core = core[:i]
		if err := checkIdents(v.Build, false); err != nil {
			return Version{}, 0, fmt.Errorf("version %q: build metadata: %w", s, err)
		}
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		v.Pre = core[i+1:]
		core = core[:i]
		if err := checkIdents(v.Pre, true); err != nil {
			return Version{}, 0, fmt.Errorf("version %q: pre-release: %w", s, err)
		}
	}
	nums := strings.Split(core, ".")
	if len(nums) > 3 {
		return Version{}, 0, fmt.Errorf("version %q: too many parts", s)
	}
	if (v.Pre != "" || v.Build != "" || strings.ContainsAny(s, "-+")) && len(nums) != 3 {
		return Version{}, 0, fmt.Errorf("version %q: pre-release and build need MAJOR.MINOR.PATCH", s)
	}
	dst := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, n := range nums {
		if !isNumeric(n) || (len(n) > 1 && n[0] == '0') {
			return Version{}, 0, fmt.Errorf("version %q: part %q is not a number without leading zeros", s, n)
		}
		x, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return Version{}, 0, fmt.Errorf("version %q: %w", s, err)
		}
		*dst[i] = x
	}
	return v, len(nums), nil
}

func checkIdents(s string, pre bool) error {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return errors.New("empty identifier")
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fmt.Errorf("identifier %q: invalid character %q", id, c)
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("identifier %q: leading zero", id)
		}
	}
	return nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the canonical form of v.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w,
// by semver precedence (build metadata ignored).
func (v Version) Compare(w Version) int {
	for _, p := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.Pre == w.Pre:
		return 0
	case v.Pre == "":
		return 1
	case w.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(w.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		an, bn := isNumeric(a[i]), isNumeric(b[i])
		switch {
		case an && bn:
			if len(a[i]) != len(b[i]) {
				return cmpInt(len(a[i]), len(b[i]))
			}
			return strings.Compare(a[i], b[i])
		case an:
			return -1
		case bn:
			return 1
		default:
			return strings.Compare(a[i], b[i])
		}
	}
	return cmpInt(len(a), len(b))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Range is a set of versions: alternatives separated by "||", each a list of
// comparators separated by spaces or commas, all of which must hold.
//
// Comparators: ">=1.0", ">1.2.3", "<=2", "<2", "=1.4.0", "1.4.0" (exact),
// "1.4" (any 1.4.x), "^1.2" (>=1.2.0 <2.0.0), "~1.2" (>=1.2.0 <1.3.0), "*"
// (anything). Missing minor and patch numbers count as zero in >=, >, <=, <.
// A pre-release version matches only a comparator that names a pre-release
// of the same MAJOR.MINOR.PATCH, as in npm and Cargo.
type Range struct {
	src  string
	alts [][]comparator
}

type comparator struct {
	op string // one of ">=", ">", "<=", "<", "="
	v  Version
}

// ParseRange parses a version range; see [Range].
func ParseRange(s string) (Range, error) {
	r := Range{src: s}
	if strings.TrimSpace(s) == "" {
		return Range{}, errors.New("empty version range")
	}
	for alt := range strings.SplitSeq(s, "||") {
		fields := strings.FieldsFunc(alt, func(c rune) bool { return c == ' ' || c == ',' || c == '\t' })
		if len(fields) == 0 {
			return Range{}, fmt.Errorf("range %q: empty alternative", s)
		}
		var cs []comparator
		for _, f := range fields {
			c, err := parseComparator(f)
			if err != nil {
				return Range{}, fmt.Errorf("range %q: %w", s, err)
			}
			cs = append(cs, c...)
		}
		r.alts = append(r.alts, cs)
	}
	return r, nil
}

func parseComparator(f string) ([]comparator, error) {
	if f == "*" || f == "x" {
		return nil, nil
	}
	op := ""
	for _, p := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
		if strings.HasPrefix(f, p) {
			op, f = p, f[len(p):]
			break
		}
	}
	v, n, err := parsePartial(f)
	if err != nil {
		return nil, err
	}
	switch op {
	case ">=", ">", "<=", "<":
		if op == "<=" && n < 3 { // "<=1.2" means anything in 1.2.x
			return []comparator{{"<", upper(v, n)}}, nil
		}
		if op == ">" && n < 3 { // ">1.2" means 1.3.0 and later
			return []comparator{{">=", upper(v, n)}}, nil
		}
		return []comparator{{op, v}}, nil
	case "^":
		var hi Version
		switch {
		case v.Major > 0 || n == 1:
			hi = Version{Major: v.Major + 1}
		case v.Minor > 0 || n == 2:
			hi = Version{Minor: v.Minor + 1}
		default:
			hi = Version{Patch: v.Patch + 1}
		}
		return []comparator{{">=", v}, {"<", hi}}, nil
	case "~":
		if n == 1 {
			return []comparator{{">=", v}, {"<", Version{Major: v.Major + 1}}}, nil
		}
		return []comparator{{">=", v}, {"<", Version{Major: v.Major, Minor: v.Minor + 1}}}, nil
	default: // "=" or bare
		if n == 3 {
			return []comparator{{"=", v}}, nil
		}
		return []comparator{{">=", v}, {"<", upper(v, n)}}, nil
	}
}

// upper is the first version after every version that the partial v covers.
func upper(v Version, n int) Version {
	if n == 1 {
		return Version{Major: v.Major + 1}
	}
	return Version{Major: v.Major, Minor: v.Minor + 1}
}

// String returns the range as written.
func (r Range) String() string { return r.src }

// Contains reports whether v is in the range.
func (r Range) Contains(v Version) bool {
	for _, cs := range r.alts {
		if allHold(cs, v) {
			return true
		}
	}
	return false
}

func allHold(cs []comparator, v Version) bool {
	preAllowed := v.Pre == ""
	for _, c := range cs {
		d := v.Compare(c.v)
		ok := false
		switch c.op {
		case ">=":
			ok = d >= 0
		case ">":
			ok = d > 0
		case "<=":
			ok = d <= 0
		case "<":
			ok = d < 0
		case "=":
			ok = d == 0
		}
		if !ok {
			return false
		}
		if c.v.Pre != "" && c.v.Major == v.Major && c.v.Minor == v.Minor && c.v.Patch == v.Patch {
			preAllowed = true
		}
	}
	return preAllowed
}
