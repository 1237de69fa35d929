// Command bare is the baseline of bench/wrk.sh: a bare fasthttp handler
// that answers every request with the bytes of a file, with nothing in
// front of it.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18081", "listen address")
	bodyFile := flag.String("body", "", "file whose bytes every response carries")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	log.Fatal(fasthttp.ListenAndServe(*addr, h))
}
