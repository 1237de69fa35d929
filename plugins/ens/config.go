package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/plugins/internal/evm"
	sdk "github.com/ubeu/gateway/sdk-plugin"
)

// Mainnet addresses of the ENS contracts (https://docs.ens.domains/learn/deployments).
const (
	mainnetRegistry      = "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e"
	mainnetBaseRegistrar = "0x57f1887a8BF19b14fC0dF6Fd9B2acc9Af147eA85"
	mainnetNameWrapper   = "0xD4416b13d2b3a9aBae7AcD5D6C2BbDBE25686401"
)

// config is the plugin's configuration (config.schema.json). Unknown keys
// are an error.
type config struct {
	// RPCURLs are the Ethereum JSON-RPC endpoints, tried in order.
	RPCURLs []string `json:"rpcUrls"`
	// ChainID every endpoint must report (default 1, mainnet).
	ChainID uint64 `json:"chainId"`
	// Registry, BaseRegistrar, NameWrapper: contract addresses (default
	// mainnet's). NameWrapper may be "" where there is none.
	Registry      string  `json:"registry"`
	BaseRegistrar string  `json:"baseRegistrar"`
	NameWrapper   *string `json:"nameWrapper"`
	// TextKeys are the text records Resolve reads.
	TextKeys []string `json:"textKeys"`
	// CoinTypes are the ENSIP-9 coin types Resolve reads besides 60.
	CoinTypes []uint64 `json:"coinTypes"`
	// MaxReplyBytes caps a JSON-RPC reply (default 256 KiB).
	MaxReplyBytes int `json:"maxReplyBytes"`
	// TimeoutMs is the per-request timeout (default: the host's).
	TimeoutMs uint32 `json:"timeoutMs"`
}

var defaultTextKeys = []string{"avatar", "description", "display", "email", "url", "com.github", "com.twitter", "org.telegram"}

// settings is a decoded, validated configuration.
type settings struct {
	client                           *evm.Client
	registry, baseRegistrar, wrapper evm.Address
	hasWrapper                       bool
	textKeys                         []string
	coinTypes                        []uint64
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
	if c.ChainID == 0 {
		c.ChainID = 1
	}
	if c.Registry == "" {
		c.Registry = mainnetRegistry
	}
	if c.BaseRegistrar == "" {
		c.BaseRegistrar = mainnetBaseRegistrar
	}
	if c.NameWrapper == nil {
		w := mainnetNameWrapper
		c.NameWrapper = &w
	}
	if c.TextKeys == nil {
		c.TextKeys = defaultTextKeys
	}
	if c.MaxReplyBytes < 0 || c.MaxReplyBytes > 1<<20 {
		return nil, fmt.Errorf("maxReplyBytes %d outside 0..1048576", c.MaxReplyBytes)
	}
	if len(c.TextKeys) > 32 || len(c.CoinTypes) > 16 {
		return nil, fmt.Errorf("at most 32 textKeys and 16 coinTypes")
	}
	s := &settings{
		client:    &evm.Client{URLs: c.RPCURLs, ChainID: c.ChainID, MaxReply: c.MaxReplyBytes, TimeoutMs: c.TimeoutMs},
		textKeys:  c.TextKeys,
		coinTypes: c.CoinTypes,
	}
	var err error
	if s.registry, err = evm.ParseAddress(c.Registry); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if s.baseRegistrar, err = evm.ParseAddress(c.BaseRegistrar); err != nil {
		return nil, fmt.Errorf("baseRegistrar: %w", err)
	}
	if *c.NameWrapper != "" {
		if s.wrapper, err = evm.ParseAddress(*c.NameWrapper); err != nil {
			return nil, fmt.Errorf("nameWrapper: %w", err)
		}
		s.hasWrapper = true
	}
	return s, nil
}
