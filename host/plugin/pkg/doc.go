// Package pluginpkg is the packaging and trust layer for gatewayd plugins:
// the plugin.yaml manifest, Ed25519 signatures, verified installation into
// the plugin directory, the lock file, and the re-check before every load.
// The `gatewayd plugin …` commands call it; the runtimes (host/plugin/wasmrt,
// go-plugin) only ever receive what [Load] returns.
//
// # Life of a plugin
//
// Publisher: [Keygen] once; write plugin.yaml pinning each artifact's sha256
// ([FileSHA256]); [Sign]; optionally [Pack] into one .tar.gz.
//
// Operator: put trusted publisher keys in <data-dir>/plugins/trusted/*.pub
// ([LoadTrusted]); [Inspect] a package; [Install] it with the capabilities
// granted; [List], [Inspect], [Remove]. gatewayd calls [Load] at every start
// of a plugin.
//
// # Manifest (plugin.yaml)
//
// Decoded strictly by [DecodeManifest]: an unknown or duplicated key, a
// second YAML document or an invalid value is an error naming the key.
//
//	name: ens-resolver              # [a-z0-9-], at most 64, no leading/trailing '-'
//	publisher: Example Labs
//	version: 1.2.0                  # semver MAJOR.MINOR.PATCH[-pre][+build]
//	description: Resolves ENS names.
//	interfaces: [resolver]          # resolver | lms | directory | sso
//	runtime: wasm                   # wasm | process
//	abi: ">=1.0 <2"                 # range of plugin ABI versions (see Range)
//	gatewayd: ">=0.3 <1"            # optional range of gatewayd versions
//	artifacts:
//	  wasm: {file: plugin.wasm, sha256: 3f5c…64 hex digits}
//	  # runtime process instead, one binary per os/arch:
//	  # process:
//	  #   linux/amd64: {file: bin/ens-linux-amd64, sha256: …}
//	  #   linux/arm64: {file: bin/ens-linux-arm64, sha256: …}
//	capabilities:                   # requested; anything absent is denied
//	  http:
//	    allow:
//	      - {scheme: https, host: mainnet.infura.io, port: 443}
//	      - {scheme: https, host: "*.alchemy.com"}   # port omitted: scheme default
//	    allow_private: false        # private/loopback/link-local addresses
//	  kv: {max_entries: 10000, max_bytes: 1048576}
//	  secrets: [infura_key]
//	  log: true
//	  metrics: true
//	  clock: true
//	  random: true
//	  config: true
//	limits: {memory_pages: 512, call_timeout: 2s, min_instances: 1, max_instances: 4,
//	         recycle_after_calls: 100000, recycle_pages: 384,   # Wasm: replace an instance after N calls / above P pages
//	         start_timeout: 30s}                                # up to the first answer (default 10 s)
//	config_schema:                  # inline JSON Schema (2020-12 by default) …
//	  type: object
//	  required: [network]
//	  properties:
//	    network: {type: string, enum: [mainnet, sepolia]}
//	# … or a file of the package, pinned like an artifact:
//	# config_schema: {file: config.schema.json, sha256: …}
//	license: Apache-2.0             # SPDX expression
//	source: https://github.com/example/ens-resolver
//
// A config schema may not reference other documents ($ref to a URL or a
// file is refused).
//
// # Signature (plugin.yaml.sig)
//
// Pure Ed25519 (RFC 8032) over the exact bytes of plugin.yaml, which pin the
// sha256 of every artifact, so one signature covers the package. The file
// holds the standard base64 of the 64-byte signature and a newline; [Verify]
// also accepts the 64 raw bytes. Private keys are PKCS#8 PEM (mode 0600);
// public keys are one line "ed25519:<base64 of 32 bytes>" or a PEM PUBLIC KEY
// block. A key's ID is "ed25519:" and the first 16 hex digits of the sha256
// of the raw key.
//
// # Wasm markers
//
// [Install] compiles the module (without running it) and reads: the ABI
// marker export gatewayd_abi_v1_<minor>, which must be inside the manifest's
// abi range and served by the host; the interface marker exports
// gatewayd_iface_<name>, which must equal the manifest's interfaces; and the
// import modules, each of which must be free ([FreeImportModules]) or
// gatewayd_v1_<capability> for a requested capability.
//
// # Layout and lock file
//
//	<root>/plugins.lock.json        0600, written atomically
//	<root>/<name>/<version>/        0700: plugin.yaml, plugin.yaml.sig,
//	                                the pinned files (0600, process binaries
//	                                0700) and .config.json (operator config)
//
// The lock file, the single record of what is active:
//
//	{
//	  "format": 1,
//	  "plugins": {
//	    "ens-resolver": {
//	      "name": "ens-resolver",
//	      "version": "1.2.0",
//	      "publisher": "Example Labs",
//	      "runtime": "wasm",
//	      "interfaces": ["resolver"],
//	      "manifest_sha256": "9b1e…",
//	      "artifacts": {"wasm": {"file": "plugin.wasm", "sha256": "3f5c…"}},
//	      "signer": "ed25519:6a0f3c9e1d2b4a57",
//	      "grants": {"capabilities": ["http", "log"], "http_hosts": ["mainnet.infura.io"]},
//	      "config_sha256": "44136f…",
//	      "installed_at": "2026-11-24T15:00:00Z"
//	    }
//	  }
//	}
//
// "signer" is "unsigned" for a package installed with AllowUnsigned.
// "grants" records exactly what the plugin requested, all of it granted.
// Artifacts of a process plugin are keyed by "os/arch".
package pluginpkg
