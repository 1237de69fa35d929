package main

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
func hexEncode(b []byte) string   { return hex.EncodeToString(b) }
