package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/plugins/internal/evm"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// network is one chain UNS is deployed on.
type network struct {
	ChainID uint64   `json:"chainId"`
	RPCURLs []string `json:"rpcUrls"`
	// ProxyReader is the UNS ProxyReader contract of the chain.
	ProxyReader string `json:"proxyReader"`
	// Bridge, if set, is the address that holds a token of this chain
	// while the name lives on another (Ethereum's MintableERC721Predicate).
	Bridge string `json:"bridge"`
}

// config is the plugin's configuration (config.schema.json). Unknown keys
// are an error.
type config struct {
	Networks      []network `json:"networks"`
	TLDs          []string  `json:"tlds"`
	RecordKeys    []string  `json:"recordKeys"`
	MaxReplyBytes int       `json:"maxReplyBytes"`
	TimeoutMs     uint32    `json:"timeoutMs"`
}

// Defaults: UNS's deployments on Ethereum and Polygon, as listed in the
// uns-config.json of npm @unstoppabledomains/uns 1.0.17 (networks "1" and
// "137"); the operator supplies the RPC endpoints.
var (
	defaultNetworks = []network{
		{ChainID: 1, ProxyReader: "0x578853aa776Eef10CeE6c4dd2B5862bdcE767A8B", Bridge: "0x932532aA4c0174b8453839A6E44eE09Cc615F2b7"},
		{ChainID: 137, ProxyReader: "0x91EDd8708062bd4233f4Dd0FCE15A7cb4d500091"},
	}
	defaultTLDs = []string{"crypto", "x", "nft", "wallet", "blockchain", "bitcoin", "dao", "888", "zil", "polygon",
		"unstoppable", "klever", "hi", "kresus", "anime", "manga", "binanceus", "go", "altimist", "pudgy", "austin",
		"bitget", "pog", "clay", "witg", "metropolis", "wrkx", "secret", "raiin", "tball", "farms", "dfz", "kryptic", "ubu"}
	defaultRecordKeys = []string{"crypto.ETH.address", "crypto.MATIC.version.MATIC.address", "crypto.BTC.address",
		"crypto.SOL.address", "token.EVM.address", "ipfs.html.value", "browser.redirect_url", "whois.email.value",
		"social.twitter.username"}
)

type chainSettings struct {
	client      *evm.Client
	proxyReader evm.Address
	bridge      evm.Address // zero: none
}

type settings struct {
	networks   []chainSettings
	tlds       map[string]bool
	recordKeys []string
}

// cfg is the configuration, decoded once per configuration.
var cfg = sdk.ParsedConfig[settings]{Parse: parseConfig}

// load returns the settings of the plugin's configuration.
func load() (*settings, error) {
	s, err := cfg.Get()
	if err != nil {
		return nil, abiv1.Errorf(abiv1.ErrorCodeInternal, "config: %v", err)
	}
	return s, nil
}

func parseConfig(raw []byte) (*settings, error) {
	var c config
	if len(bytes.TrimSpace(raw)) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return nil, err
		}
	}
	if c.Networks == nil {
		c.Networks = defaultNetworks
	}
	if c.TLDs == nil {
		c.TLDs = defaultTLDs
	}
	if c.RecordKeys == nil {
		c.RecordKeys = defaultRecordKeys
	}
	if len(c.Networks) == 0 || len(c.Networks) > 8 {
		return nil, fmt.Errorf("1 to 8 networks, not %d", len(c.Networks))
	}
	if len(c.RecordKeys) > 64 {
		return nil, fmt.Errorf("at most 64 recordKeys")
	}
	if c.MaxReplyBytes < 0 || c.MaxReplyBytes > 1<<20 {
		return nil, fmt.Errorf("maxReplyBytes %d outside 0..1048576", c.MaxReplyBytes)
	}
	s := &settings{tlds: map[string]bool{}, recordKeys: c.RecordKeys}
	for _, t := range c.TLDs {
		s.tlds[t] = true
	}
	seen := map[uint64]bool{}
	for i, n := range c.Networks {
		if n.ChainID == 0 || seen[n.ChainID] {
			return nil, fmt.Errorf("networks[%d]: chainId missing or repeated", i)
		}
		seen[n.ChainID] = true
		cs := chainSettings{client: &evm.Client{URLs: n.RPCURLs, ChainID: n.ChainID, MaxReply: c.MaxReplyBytes, TimeoutMs: c.TimeoutMs}}
		var err error
		if cs.proxyReader, err = evm.ParseAddress(n.ProxyReader); err != nil {
			return nil, fmt.Errorf("networks[%d].proxyReader: %w", i, err)
		}
		if n.Bridge != "" {
			if cs.bridge, err = evm.ParseAddress(n.Bridge); err != nil {
				return nil, fmt.Errorf("networks[%d].bridge: %w", i, err)
			}
		}
		s.networks = append(s.networks, cs)
	}
	return s, nil
}
