package abiv1

import "strconv"

// ABI version implemented by this package.
const (
	Major = 1
	Minor = 0
)

// Export and import names of the WebAssembly ABI (see abi/README.md).
const (
	// VersionExportPrefix prefixes the single version marker export,
	// "gatewayd_abi_v1_<minor>".
	VersionExportPrefix = "gatewayd_abi_v1_"
	// InterfaceExportPrefix prefixes the interface marker exports,
	// e.g. "gatewayd_iface_resolver".
	InterfaceExportPrefix = "gatewayd_iface_"
	// FeatureExportPrefix prefixes optional guest feature exports.
	FeatureExportPrefix = "gatewayd_feature_"
	// CallExport is the export the host calls: (method, input_len i32) -> status i32.
	CallExport = "gatewayd_call"

	// CoreModule is the always-linked host import module.
	CoreModule = "gatewayd_v1"
	// Capability import modules, linked only when granted.
	HTTPModule    = "gatewayd_v1_http"
	KVModule      = "gatewayd_v1_kv"
	SecretsModule = "gatewayd_v1_secrets"
	LogModule     = "gatewayd_v1_log"
	MetricsModule = "gatewayd_v1_metrics"
	ClockModule   = "gatewayd_v1_clock"
	RandomModule  = "gatewayd_v1_random"
	ConfigModule  = "gatewayd_v1_config"
)

// Interface names, as used in interface marker exports, manifests and
// DescribeResponse.interfaces.
const (
	IfaceResolver  = "resolver"
	IfaceLMS       = "lms"
	IfaceDirectory = "directory"
	IfaceSSO       = "sso"
)

// Status values returned by the call export.
const (
	StatusOK    = 0 // the output is the response message
	StatusError = 1 // the output is an Error message
)

// VersionExport returns the version marker export name for minor, e.g.
// "gatewayd_abi_v1_0".
func VersionExport(minor int) string {
	return VersionExportPrefix + strconv.Itoa(minor)
}

// ParseVersionExport reports whether name is a version marker export and
// returns its major and minor version. Only decimal digits without leading
// zeros are accepted.
func ParseVersionExport(name string) (major, minor int, ok bool) {
	const p = "gatewayd_abi_v"
	if len(name) <= len(p) || name[:len(p)] != p {
		return 0, 0, false
	}
	rest := name[len(p):]
	i := 0
	for i < len(rest) && rest[i] != '_' {
		i++
	}
	if i == len(rest) {
		return 0, 0, false
	}
	major, ok1 := parseDecimal(rest[:i])
	minor, ok2 := parseDecimal(rest[i+1:])
	return major, minor, ok1 && ok2
}

func parseDecimal(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
