package pluginpkg

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
)

// Names the wasm ABI v1 uses to declare a module's version, interfaces and
// needs. Markers are exports that the host never calls.
const (
	ABIMarkerPrefix        = "gatewayd_abi_v1_" // + minor: gatewayd_abi_v1_0
	InterfaceMarkerPrefix  = "gatewayd_iface_"  // + interface: gatewayd_iface_resolver
	CapabilityImportPrefix = "gatewayd_v1_"     // + capability: gatewayd_v1_http
)

// FreeImportModules are import modules a wasm plugin may use without
// requesting a capability: WASI preview 1 (which the host wires to no files,
// no sockets and no environment) and the core ABI module "gatewayd_v1"
// (call input and output, no ambient authority).
var FreeImportModules = []string{"wasi_snapshot_preview1", "gatewayd_v1"}

// ModuleInfo is what a wasm module declares through its imports and exports.
type ModuleInfo struct {
	// ABI is "1.<minor>" from the highest gatewayd_abi_v1_<minor> marker, or
	// "" when the module exports none.
	ABI string
	// Interfaces are the names from the gatewayd_iface_<name> markers, sorted.
	Interfaces []string
	// ImportModules are the distinct module names of the imported functions, sorted.
	ImportModules []string
	// Exports are the names of the exported functions, sorted.
	Exports []string
}

// InspectWasm compiles the module with wazero's interpreter (validation
// only, nothing runs) and reads its function imports and exports.
func InspectWasm(ctx context.Context, wasm []byte) (ModuleInfo, error) {
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return ModuleInfo{}, fmt.Errorf("wasm module: %w", err)
	}
	defer cm.Close(ctx)

	var info ModuleInfo
	for _, f := range cm.ImportedFunctions() {
		mod, _, ok := f.Import()
		if ok && !slices.Contains(info.ImportModules, mod) {
			info.ImportModules = append(info.ImportModules, mod)
		}
	}
	slices.Sort(info.ImportModules)

	minor := -1
	for name := range cm.ExportedFunctions() {
		info.Exports = append(info.Exports, name)
		if s, ok := strings.CutPrefix(name, ABIMarkerPrefix); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 && strconv.Itoa(n) == s && n > minor {
				minor = n
			}
		}
		if s, ok := strings.CutPrefix(name, InterfaceMarkerPrefix); ok && s != "" {
			info.Interfaces = append(info.Interfaces, s)
		}
	}
	slices.Sort(info.Exports)
	slices.Sort(info.Interfaces)
	if minor >= 0 {
		info.ABI = "1." + strconv.Itoa(minor)
	}
	return info, nil
}

// checkModule compares what the module declares with the manifest: its ABI
// marker within the manifest's abi range and served by the host, its
// interface markers equal to the manifest's interfaces, and every capability
// import module requested.
func checkModule(info ModuleInfo, m *Manifest, hostABI Version) error {
	if info.ABI == "" {
		return fmt.Errorf("wasm module exports no %s<minor> marker: not built for gatewayd ABI v1", ABIMarkerPrefix)
	}
	modABI, _, err := parsePartial(info.ABI)
	if err != nil {
		return fmt.Errorf("wasm module ABI marker: %w", err)
	}
	if r, err := ParseRange(m.ABI); err != nil || !r.Contains(modABI) {
		return fmt.Errorf("wasm module declares ABI %s, outside the manifest's abi range %q", info.ABI, m.ABI)
	}
	if modABI.Major != hostABI.Major || modABI.Minor > hostABI.Minor {
		return fmt.Errorf("wasm module needs ABI %s; this gatewayd serves %d.0 to %d.%d", info.ABI, hostABI.Major, hostABI.Major, hostABI.Minor)
	}

	want := slices.Sorted(slices.Values(m.Interfaces))
	if !slices.Equal(info.Interfaces, want) {
		return fmt.Errorf("wasm module's interface markers %v do not match the manifest's interfaces %v", info.Interfaces, want)
	}

	requested := m.Capabilities.Requested()
	for _, mod := range info.ImportModules {
		if slices.Contains(FreeImportModules, mod) {
			continue
		}
		capName, ok := strings.CutPrefix(mod, CapabilityImportPrefix)
		if !ok || !slices.Contains(KnownCapabilities, capName) {
			return fmt.Errorf("wasm module imports from module %q, which gatewayd does not provide", mod)
		}
		if !slices.Contains(requested, capName) {
			return fmt.Errorf("wasm module imports %q but the manifest does not request capability %q (capabilities.%s)", mod, capName, capName)
		}
	}
	return nil
}
