// Command bare is the baseline of the wrk benchmarks: a bare fasthttp
// handler that answers every request with the bytes of a file (-body), or
// each path with its own bytes from a JSON map of path to body (-map), with
// nothing in front of it.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"log"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18081", "listen address")
	bodyFile := flag.String("body", "", "file whose bytes every response carries")
	mapFile := flag.String("map", "", "JSON object of path to response body")
	contentType := flag.String("content-type", "application/json", "Content-Type of the answers")
	work := flag.Duration("work", 0, "CPU time to burn per request (hashing), to calibrate how the tail grows with per-request cost")
	flag.Parse()
	var h fasthttp.RequestHandler
	if *mapFile != "" {
		b, err := os.ReadFile(*mapFile)
		if err != nil {
			log.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			log.Fatal(err)
		}
		bodies := make(map[string][]byte, len(m))
		for k, v := range m {
			bodies[k] = []byte(v)
		}
		h = func(ctx *fasthttp.RequestCtx) {
			b, ok := bodies[string(ctx.Path())]
			if !ok {
				ctx.SetStatusCode(404)
				return
			}
			ctx.SetContentType(*contentType)
			ctx.SetBody(b)
		}
	} else {
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			log.Fatal(err)
		}
		h = func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType(*contentType)
			ctx.SetBody(body)
		}
	}
	if *work > 0 {
		inner := h
		h = func(ctx *fasthttp.RequestCtx) {
			burn(*work)
			inner(ctx)
		}
	}
	log.Fatal(fasthttp.ListenAndServe(*addr, h))
}

// burn hashes for about d of wall time on the calling goroutine.
func burn(d time.Duration) {
	var sum [32]byte
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 16 {
			sum = sha256.Sum256(sum[:])
		}
	}
	_ = sum
}
