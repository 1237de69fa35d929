package httpapi

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes one JSON line per request, in the shape of log/slog's
// JSONHandler ({"time","level","msg",…}), without slog's per-record
// overhead: the line is appended into a pooled buffer by hand. Writes to a
// file (stderr, stdout) go through a buffer flushed every flushEvery and on
// Close, so the hot path makes no system call; other writers are written
// through at once.
type accessLog struct {
	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer // nil: write through
	stop   chan struct{}
	done   chan struct{}
	closed bool
	pool   sync.Pool
}

const flushEvery = 100 * time.Millisecond

func newAccessLog(w io.Writer) *accessLog {
	a := &accessLog{out: w, pool: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
	if _, ok := w.(*os.File); ok {
		a.buf = bufio.NewWriterSize(w, 64<<10)
		a.stop, a.done = make(chan struct{}), make(chan struct{})
		go a.flushLoop()
	}
	return a
}

func (a *accessLog) flushLoop() {
	defer close(a.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.mu.Lock()
			a.buf.Flush()
			a.mu.Unlock()
		}
	}
}

// Close flushes and stops the flusher.
func (a *accessLog) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	if a.buf != nil {
		a.buf.Flush()
	}
	a.mu.Unlock()
	if a.stop != nil {
		close(a.stop)
		<-a.done
	}
}

type accessEntry struct {
	time                                         time.Time
	method, route, path, principal, auth, ip, id string
	status                                       int
	dur                                          time.Duration
}

func (a *accessLog) write(e *accessEntry) {
	bp := a.pool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = e.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.route)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.dur), 10)
	b = append(b, `,"principal":`...)
	b = appendJSONString(b, e.principal)
	b = append(b, `,"auth":`...)
	b = appendJSONString(b, e.auth)
	b = append(b, `,"clientIp":`...)
	b = appendJSONString(b, e.ip)
	b = append(b, `,"requestId":`...)
	b = appendJSONString(b, e.id)
	b = append(b, "}\n"...)
	a.mu.Lock()
	if !a.closed {
		if a.buf != nil {
			a.buf.Write(b)
		} else {
			a.out.Write(b)
		}
	}
	a.mu.Unlock()
	*bp = b
	a.pool.Put(bp)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what RFC 8259
// requires plus <, >, & and the line separators (as encoding/json does);
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
