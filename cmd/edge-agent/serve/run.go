package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends one sd_notify(3) message ("READY=1", "WATCHDOG=1",
// "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET; without it (not started by
// systemd with Type=notify) it does nothing.
func Notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// WatchdogInterval is systemd's watchdog interval ($WATCHDOG_USEC, when
// $WATCHDOG_PID is this process or unset), or 0 when the watchdog is off.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}

// RunOptions configure Run.
type RunOptions struct {
	// Listener serves Handler (the API; admin endpoints need the token).
	Listener net.Listener
	// AdminListener, if set, serves AdminHandler (a unix socket whose
	// permissions make it operator-only).
	AdminListener net.Listener
	// ShutdownTimeout bounds the graceful drain of in-flight requests at
	// shutdown; past it, connections are closed, which cancels the
	// generations still running.
	ShutdownTimeout time.Duration
	// Notify sends sd_notify states; default Notify.
	Notify func(state string) error
	// Watchdog is the systemd watchdog interval; default WatchdogInterval().
	// Pings go out at half of it.
	Watchdog time.Duration
}

// Run serves s (which must have been started: a release is live) until ctx
// is done, then shuts down gracefully: /readyz turns 503, STOPPING=1 is
// sent, in-flight requests finish (up to ShutdownTimeout), and the live
// release is drained and unmapped. READY=1 is sent once the listeners
// accept. The watchdog is petted from this loop, and only while the
// server can pin its live release, so a wedged agent stops petting and
// systemd restarts it.
func (s *Server) Run(ctx context.Context, o RunOptions) error {
	if o.Notify == nil {
		o.Notify = Notify
	}
	if o.Watchdog == 0 {
		o.Watchdog = WatchdogInterval()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	servers := []*http.Server{newHTTPServer(s.Handler())}
	listeners := []net.Listener{o.Listener}
	if o.AdminListener != nil {
		servers = append(servers, newHTTPServer(s.AdminHandler()))
		listeners = append(listeners, o.AdminListener)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	o.Notify("READY=1\nSTATUS=serving release " + s.live.Current())
	var tick <-chan time.Time
	if o.Watchdog > 0 {
		t := time.NewTicker(o.Watchdog / 2)
		defer t.Stop()
		tick = t.C
		s.petWatchdog(o.Notify)
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick:
			s.petWatchdog(o.Notify)
		case err := <-errc:
			serveErr = err
			break loop
		}
	}
	o.Notify("STOPPING=1")
	s.SetStopping()
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close() // cancels the requests still running
			errs = append(errs, err)
		}
	}
	if err := s.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	return errors.Join(errs...)
}

func (s *Server) petWatchdog(notify func(string) error) {
	if _, unpin, err := s.live.Acquire(); err == nil {
		unpin()
		notify("WATCHDOG=1")
	}
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: streamed generations last as long as they last;
		// a client that stops reading is dropped by its context.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}
