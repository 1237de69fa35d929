package treasury

import (
	"encoding/json"

	"github.com/ubeu/gateway/host/ledger"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func ledgerRate(h, c int64) ledger.ExchangeRate {
	return ledger.ExchangeRate{HbarEquiv: h, CentEquiv: c}
}
