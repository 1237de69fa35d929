package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	abiv1 "github.com/ubeu/gateway/abi/v1"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
func hexEncode(b []byte) string   { return hex.EncodeToString(b) }

func asABI(err error, target **abiv1.Error) bool { return errors.As(err, target) }
