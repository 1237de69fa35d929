// Package procrt runs gatewayd plugins as out-of-process go-plugin
// binaries, for plugins that need the full Go runtime, native libraries or
// long-lived connections. A *Plugin is an abiv1.Transport, like a plugin of
// the WebAssembly runtime, so the generated clients work over either.
//
// The gRPC protocol is in package wire: the plugin serves the ABI's call
// framing (method ID and encoded request in, status and encoded response
// out), and gatewayd serves the capabilities back to the plugin through
// go-plugin's GRPCBroker, refusing modules not granted with
// PERMISSION_DENIED. The Go SDK (sdk-plugin) serves a plugin this way when
// built natively, so one plugin source builds to both a WebAssembly module
// and a go-plugin binary.
//
// Processes are launched with go-plugin's AutoMTLS, a pinned SHA-256 of the
// binary (checked before every launch) and only the gRPC protocol. A plugin
// that exits is restarted with exponential backoff; calls made meanwhile
// fail at once with a *abiv1.PluginError. Close stops a plugin and reaps
// its process; Shutdown stops every plugin of the process. A plugin
// process also exits when gatewayd dies (parent-death signal on Linux, and
// the SDK's own parent watch).
package procrt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	abiv1 "github.com/ubeu/gateway/abi/v1"
	"github.com/ubeu/gateway/host/plugin/procrt/wire"
)

// Defaults of Spec's durations.
const (
	DefaultStartTimeout      = 10 * time.Second
	DefaultRestartBackoff    = 100 * time.Millisecond
	DefaultMaxRestartBackoff = 30 * time.Second
)

// Spec describes a plugin binary to run.
type Spec struct {
	// Name identifies the plugin in logs and errors.
	Name string
	// Path is the plugin binary; it should be in a directory only the
	// operator can write to.
	Path string
	// SHA256 is the hex SHA-256 of the binary. It is checked before every
	// launch, including restarts; a mismatch refuses the launch.
	SHA256 string
	// Grants lists the capability modules (abiv1.HTTPModule, abiv1.KVModule,
	// ...) the plugin may call; others are refused with PERMISSION_DENIED.
	Grants []string
	// Host serves the granted capabilities. It may be nil if Grants is empty.
	Host Host
	// Interfaces the plugin must implement (abiv1.IfaceResolver, ...),
	// checked against its Describe at every launch.
	Interfaces []string
	// CallTimeout bounds every call (0: only the caller's context).
	CallTimeout time.Duration
	// Logger receives the runtime's logs and the plugin's stdout, stderr
	// and go-plugin logs, with attribute plugin=Name. Nil: slog.Default().
	Logger *slog.Logger
	// Env is the plugin's whole environment (gatewayd's is not inherited);
	// go-plugin adds its own variables.
	Env []string
	// StartTimeout bounds one launch (0: DefaultStartTimeout).
	StartTimeout time.Duration
	// RestartBackoff is the first delay before restarting a plugin that
	// exited; it doubles after each failed or short-lived launch up to
	// MaxRestartBackoff. 0: the defaults.
	RestartBackoff, MaxRestartBackoff time.Duration
}

// ErrChecksum is returned when the binary's SHA-256 is not Spec.SHA256.
var ErrChecksum = errors.New("procrt: plugin binary checksum mismatch")

// ErrUnavailable is the cause of a *abiv1.PluginError for a call made while
// the plugin is down (restarting) or closed.
var ErrUnavailable = errors.New("procrt: plugin unavailable")

// Plugin is a running plugin process under supervision. It implements
// abiv1.Transport and is safe for concurrent use.
type Plugin struct {
	spec   Spec
	sum    []byte
	grants map[string]bool
	log    *slog.Logger

	wake    chan struct{} // a call saw the transport fail
	done    chan struct{} // closed by Close
	supDone chan struct{} // closed when the supervisor returns

	mu       sync.Mutex
	cur      *instance
	closed   bool
	restarts int
	info     *abiv1.DescribeResponse
}

// instance is one launch of the plugin binary.
type instance struct {
	client   *plugin.Client
	conn     grpc.ClientConnInterface
	brokerID uint32
	pid      int
	started  time.Time
}

var (
	registryMu sync.Mutex
	registry   = map[*Plugin]struct{}{}
)

// Start launches the plugin, checks its Describe and supervises it until
// Close. ctx bounds the first launch only.
func Start(ctx context.Context, spec Spec) (*Plugin, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("procrt: Spec.Name and Spec.Path are required")
	}
	sum, err := hex.DecodeString(spec.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("procrt: plugin %s: Spec.SHA256 is not a hex SHA-256", spec.Name)
	}
	if spec.StartTimeout <= 0 {
		spec.StartTimeout = DefaultStartTimeout
	}
	if spec.RestartBackoff <= 0 {
		spec.RestartBackoff = DefaultRestartBackoff
	}
	if spec.MaxRestartBackoff <= 0 {
		spec.MaxRestartBackoff = DefaultMaxRestartBackoff
	}
	spec.MaxRestartBackoff = max(spec.MaxRestartBackoff, spec.RestartBackoff)
	l := spec.Logger
	if l == nil {
		l = slog.Default()
	}
	p := &Plugin{
		spec:    spec,
		sum:     sum,
		grants:  map[string]bool{},
		log:     l.With("plugin", spec.Name),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		supDone: make(chan struct{}),
	}
	for _, g := range spec.Grants {
		p.grants[g] = true
	}
	inst, info, err := p.launch(ctx)
	if err != nil {
		return nil, err
	}
	p.cur, p.info = inst, info
	registryMu.Lock()
	registry[p] = struct{}{}
	registryMu.Unlock()
	go p.supervise()
	p.log.Info("plugin started", "pid", inst.pid, "version", info.Version, "interfaces", info.Interfaces, "grants", spec.Grants)
	return p, nil
}

// Shutdown closes every plugin started by this process and then kills any
// go-plugin client left (plugin.CleanupClients). Call it when gatewayd
// stops.
func Shutdown() {
	registryMu.Lock()
	ps := make([]*Plugin, 0, len(registry))
	for p := range registry {
		ps = append(ps, p)
	}
	registryMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = p.Close() })
	}
	wg.Wait()
	plugin.CleanupClients()
}

// checkBinary verifies the binary's SHA-256.
func (p *Plugin) checkBinary() error {
	f, err := os.Open(p.spec.Path)
	if err != nil {
		return fmt.Errorf("procrt: plugin %s: %w", p.spec.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("procrt: plugin %s: %w", p.spec.Name, err)
	}
	if !bytes.Equal(h.Sum(nil), p.sum) {
		return fmt.Errorf("%w: plugin %s: %s has sha256 %x", ErrChecksum, p.spec.Name, p.spec.Path, h.Sum(nil))
	}
	return nil
}

// launch starts one process, connects to it and checks its Describe.
func (p *Plugin) launch(ctx context.Context) (*instance, *abiv1.DescribeResponse, error) {
	if err := p.checkBinary(); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(p.spec.Path)
	cmd.Env = slices.Clone(p.spec.Env)
	setParentDeathSignal(cmd)
	out := func(stream string) io.Writer {
		return &lineWriter{log: func(line string) { p.log.Info(line, "stream", stream) }}
	}
	cs := &capServer{plugin: p.spec.Name, grants: p.grants, host: p.spec.Host, log: p.log}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: &hostPlugin{caps: cs}},
		Cmd:              cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		SkipHostEnv:      true,
		StartTimeout:     p.spec.StartTimeout,
		Logger:           newHCLog(p.log, "go-plugin"),
		SyncStdout:       out("stdout"),
		SyncStderr:       out("stderr"),
	})
	inst, err := connect(client)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("procrt: plugin %s: start: %w", p.spec.Name, err)
	}
	dctx, cancel := context.WithTimeout(ctx, p.spec.StartTimeout)
	defer cancel()
	info, err := abiv1.NewPluginClient(transport{p, inst}).Describe(dctx, &abiv1.DescribeRequest{})
	if err == nil {
		err = p.checkDescribe(info)
	}
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("procrt: plugin %s: describe: %w", p.spec.Name, err)
	}
	return inst, info, nil
}

func connect(client *plugin.Client) (*instance, error) {
	start := time.Now()
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		return nil, err
	}
	c, ok := raw.(*hostConn)
	if !ok {
		return nil, fmt.Errorf("unexpected plugin client %T", raw)
	}
	inst := &instance{client: client, conn: c.conn, brokerID: c.brokerID, started: start}
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	return inst, nil
}

func (p *Plugin) checkDescribe(info *abiv1.DescribeResponse) error {
	if info.ABIMinor > abiv1.Minor {
		return fmt.Errorf("plugin built for ABI 1.%d, host implements 1.%d", info.ABIMinor, abiv1.Minor)
	}
	for _, want := range p.spec.Interfaces {
		if !slices.Contains(info.Interfaces, want) {
			return fmt.Errorf("plugin does not implement interface %q (it implements %v)", want, info.Interfaces)
		}
	}
	return nil
}

// hostPlugin is the host side of the go-plugin plugin: its client serves
// the capabilities on a broker connection.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	caps *capServer
}

// hostConn is what hostPlugin.GRPCClient dispenses.
type hostConn struct {
	conn     *grpc.ClientConn
	brokerID uint32
}

func (*hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("procrt: the host side has no server")
}

func (h *hostPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	id := b.NextId()
	go b.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		s.RegisterService(&wire.HostServiceDesc, h.caps)
		return s
	})
	return &hostConn{conn: c, brokerID: id}, nil
}

// Info returns the plugin's Describe answer at its last launch.
func (p *Plugin) Info() *abiv1.DescribeResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Pid returns the process ID of the running plugin, or 0 while it is down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// Restarts returns how many times the plugin was restarted.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Call sends one ABI call to the plugin. It implements abiv1.Transport: an
// application error is a *abiv1.Error; a call made while the plugin is
// down, a crash during the call, an expired deadline or a malformed answer
// is a *abiv1.PluginError. After a deadline the process is replaced, as the
// WebAssembly runtime replaces an instance.
func (p *Plugin) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	if p.spec.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.spec.CallTimeout)
		defer cancel()
	}
	p.mu.Lock()
	inst, closed := p.cur, p.closed
	p.mu.Unlock()
	if inst == nil {
		reason := "plugin is restarting"
		if closed {
			reason = "plugin is closed"
		}
		return nil, &abiv1.PluginError{Method: method, Reason: reason, Err: ErrUnavailable}
	}
	return transport{p, inst}.Call(ctx, method, req)
}

// transport sends calls to one instance.
type transport struct {
	p    *Plugin
	inst *instance
}

func (t transport) Call(ctx context.Context, method uint32, req []byte) ([]byte, error) {
	resp, err := wire.CallPlugin(ctx, t.inst.conn, &wire.CallRequest{Method: method, Payload: req, HostBrokerID: t.inst.brokerID})
	if err != nil {
		// The status can arrive just before ctx reports its error.
		code := status.Code(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || code == codes.DeadlineExceeded {
			t.p.recycle(t.inst, "deadline exceeded")
			return nil, &abiv1.PluginError{Method: method, Reason: "deadline exceeded", Err: fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)}
		}
		if ctx.Err() != nil || code == codes.Canceled {
			return nil, &abiv1.PluginError{Method: method, Reason: "canceled", Err: fmt.Errorf("%w (%v)", context.Canceled, err)}
		}
		t.p.kick()
		return nil, &abiv1.PluginError{Method: method, Reason: "transport failure", Err: err}
	}
	switch resp.Status {
	case abiv1.StatusOK:
		return resp.Payload, nil
	case abiv1.StatusError:
		e := new(abiv1.Error)
		if err := e.Unmarshal(resp.Payload); err != nil {
			return nil, &abiv1.PluginError{Method: method, Reason: "error does not decode", Err: err}
		}
		return nil, e
	default:
		return nil, &abiv1.PluginError{Method: method, Reason: fmt.Sprintf("invalid status %d", resp.Status)}
	}
}

// kick wakes the supervisor to check the process now.
func (p *Plugin) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// recycle kills inst (if it is still the current instance); the
// supervisor then restarts the plugin.
func (p *Plugin) recycle(inst *instance, why string) {
	p.mu.Lock()
	current := p.cur == inst
	if current {
		p.cur = nil
	}
	p.mu.Unlock()
	if !current {
		return
	}
	p.log.Warn("plugin process replaced", "pid", inst.pid, "reason", why)
	go func() {
		inst.client.Kill()
		p.kick()
	}()
}

// pollInterval is how often the supervisor checks that the process runs.
const pollInterval = 50 * time.Millisecond

// supervise restarts the plugin when its process exits, until Close.
func (p *Plugin) supervise() {
	defer close(p.supDone)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	delay := p.spec.RestartBackoff
	var lastStart time.Time
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		case <-p.wake:
		}
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()
		if inst != nil {
			if !inst.client.Exited() {
				continue
			}
			p.mu.Lock()
			if p.cur == inst {
				p.cur = nil
			}
			p.mu.Unlock()
			p.log.Warn("plugin process exited", "pid", inst.pid)
			go inst.client.Kill() // releases go-plugin's resources
			lastStart = inst.started
		}
		// A plugin that ran a while starts over with the shortest delay.
		if !lastStart.IsZero() && time.Since(lastStart) > 2*p.spec.MaxRestartBackoff {
			delay = p.spec.RestartBackoff
		}
		for {
			select {
			case <-p.done:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, p.spec.MaxRestartBackoff)
			ctx, cancel := context.WithTimeout(context.Background(), p.spec.StartTimeout)
			inst, info, err := p.launch(ctx)
			cancel()
			if err != nil {
				p.log.Error("plugin restart failed", "error", err, "next_attempt_in", delay)
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				inst.client.Kill()
				return
			}
			p.cur, p.info = inst, info
			p.restarts++
			n := p.restarts
			p.mu.Unlock()
			lastStart = inst.started
			p.log.Info("plugin restarted", "pid", inst.pid, "restarts", n)
			break
		}
	}
}

// Close stops supervising the plugin and kills its process (after a short
// graceful shutdown), waiting until it has exited. Calls fail afterwards.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.supDone
		return nil
	}
	p.closed = true
	inst := p.cur
	p.cur = nil
	p.mu.Unlock()
	close(p.done)
	<-p.supDone
	if inst != nil {
		inst.client.Kill()
	}
	registryMu.Lock()
	delete(registry, p)
	registryMu.Unlock()
	p.log.Info("plugin stopped")
	return nil
}
