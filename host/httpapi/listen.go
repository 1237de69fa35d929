package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Listeners holds the bound listeners, so that tests can bind port 0 and
// read the address before serving.
type Listeners struct {
	Public net.Listener
	Admin  net.Listener // nil without an admin listener
}

// Listen binds the configured addresses, wrapping the public one in TLS
// when configured.
func (s *Server) Listen() (*Listeners, error) {
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	var tcfg *tls.Config
	switch {
	case s.Config.TLS.SelfSigned:
		cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, err
		}
		tcfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.Logger.Warn("serving a self-signed TLS certificate (development only)")
	case s.Config.TLS.CertFile != "":
		r, err := newCertReloader(s.Config.TLS.CertFile, s.Config.TLS.KeyFile, s.Logger)
		if err != nil {
			ln.Close()
			return nil, err
		}
		tcfg = &tls.Config{GetCertificate: r.get, MinVersion: tls.VersionTLS12}
	}
	if tcfg != nil {
		tcfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, tcfg)
	}
	l := &Listeners{Public: ln}
	if s.Config.Admin.Listen != "" {
		al, err := net.Listen("tcp", s.Config.Admin.Listen)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin listen: %w", err)
		}
		l.Admin = al
	}
	return l, nil
}

func (s *Server) newFastHTTP(h fasthttp.RequestHandler, name string) *fasthttp.Server {
	cfg := s.Config.HTTP
	return &fasthttp.Server{
		Handler:               h,
		Name:                  "",
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		ReadBufferSize:        16 << 10, // also the limit on request headers
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{s.Logger.With("listener", name)},
		ErrorHandler:          s.transportError,
	}
}

// transportError answers requests fasthttp could not parse (oversized
// bodies, broken headers, timeouts) with the JSON error.
func (s *Server) transportError(rc *fasthttp.RequestCtx, err error) {
	c := &Ctx{RequestCtx: rc, s: s, RequestID: s.newRequestID()}
	rc.Response.Header.Set("X-Request-ID", c.RequestID)
	e := errValidation("malformed HTTP request", nil)
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = &Error{Status: 413, Code: CodeTooLarge, Message: fmt.Sprintf("request body exceeds %d bytes", s.Config.HTTP.MaxBodyBytes),
			Details: map[string]any{"maxBytes": s.Config.HTTP.MaxBodyBytes}}
	case isTimeout(err):
		e = &Error{Status: 408, Code: "REQUEST_TIMEOUT", Message: "request not received in time"}
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		e = &Error{Status: 431, Code: "HEADERS_TOO_LARGE", Message: "request headers too large"}
	}
	s.writeError(c, e)
	rc.SetConnectionClose()
	s.Logger.Info("request rejected", "requestId", c.RequestID, "status", e.Status, "err", err.Error(), "clientIp", rc.RemoteIP().String())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Serve serves on the listeners until ctx is done, then shuts down
// gracefully: stop accepting, let in-flight requests finish up to
// http.shutdown_timeout.
func (s *Server) Serve(ctx context.Context, l *Listeners) error {
	s.httpSrv = s.newFastHTTP(s.Handler(), "public")
	errc := make(chan error, 2)
	go func() { errc <- s.httpSrv.Serve(l.Public) }()
	if l.Admin != nil {
		s.adminSrv = s.newFastHTTP(s.AdminHandler(), "admin")
		go func() { errc <- s.adminSrv.Serve(l.Admin) }()
	}
	s.Logger.Info("gatewayd listening", "addr", l.Public.Addr().String(), "tls", s.Config.TLS.Enabled(), "admin", adminAddr(l))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.Logger.Info("shutting down: draining in-flight requests", "deadline", s.Config.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.Config.HTTP.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
	for _, srv := range []*fasthttp.Server{s.httpSrv, s.adminSrv} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ShutdownWithContext(sctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.access.Close()
	return errors.Join(errs...)
}

func adminAddr(l *Listeners) string {
	if l.Admin == nil {
		return ""
	}
	return l.Admin.Addr().String()
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}

// certReloader serves the certificate files, re-reading them when they
// change (checked at most once a second, on handshakes).
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	mu                sync.Mutex
	cert              *tls.Certificate
	modCert, modKey   time.Time
	checked           time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return fmt.Errorf("tls.key_file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	r.cert, r.modCert, r.modKey = &cert, ci.ModTime(), ki.ModTime()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) > time.Second {
		r.checked = now
		ci, err1 := os.Stat(r.certFile)
		ki, err2 := os.Stat(r.keyFile)
		if err1 == nil && err2 == nil && (!ci.ModTime().Equal(r.modCert) || !ki.ModTime().Equal(r.modKey)) {
			old := r.cert
			if err := r.load(); err != nil {
				r.cert = old
				r.log.Error("TLS certificate reload failed; keeping the previous one", "err", err)
			} else {
				r.log.Info("TLS certificate reloaded", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gatewayd self-signed"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
