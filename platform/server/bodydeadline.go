package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// BodyDeadline bounds how long next's requests may take to deliver their bodies, so a client that
// trickles a body (slowloris on the body) cannot hold a connection and a handler goroutine for
// ever. http.Server's ReadTimeout cannot do this: it covers the whole request, handler included,
// on HTTP/1.1 only, and would cut every streaming call.
//
// A request under one of streamPrefixes (a client or bidi stream) must make progress: each read of
// its body must return within timeout, however long the stream lives. Any other request must
// deliver its whole body within timeout of the handler starting. A body that misses the deadline
// fails its read (the handler answers with an error) and, on HTTP/1.1, the connection is closed.
// Requests without a body are untouched (WebSocket upgrades, GETs). timeout <= 0 disables it.
//
// The deadline is the connection's (HTTP/1.1) or the stream's (HTTP/2) read deadline, set through
// http.ResponseController and cleared once the body has ended, so a handler that keeps working
// after reading its body is not cut off.
func BodyDeadline(next http.Handler, timeout time.Duration, streamPrefixes ...string) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: timeout}
		if r.ProtoMajor == 1 {
			// Whatever the client still sends after a broken body must not be read as the
			// next request: the answer closes the connection.
			body.onFail = func() { w.Header().Set("Connection", "close") }
		}
		for _, p := range streamPrefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				body.perRead = true
				break
			}
		}
		if !body.perRead {
			// ErrNotSupported (a writer that is not the server's) leaves the body unbounded.
			body.armed = body.rc.SetReadDeadline(time.Now().Add(timeout)) == nil
		}
		r.Body = body
		next.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	perRead bool   // a stream: the deadline restarts at every read
	armed   bool   // a read deadline is set and must be cleared when the body ends
	failed  error  // the read that missed the deadline (or broke): every later read repeats it
	onFail  func() // nil, or what to do once when the body breaks
}

// ErrBodyTimeout is what reading a request body returns once it missed its deadline; its message
// is what the caller sees (the network error under it names addresses, and is logged only).
var ErrBodyTimeout = errors.New("request body: not received in time, send it faster")

// bodyError gives a broken body a message fit for the caller and keeps the network error for
// errors.Is (os.ErrDeadlineExceeded makes Connect answer deadline_exceeded).
type bodyError struct {
	public error
	cause  error
}

func (e bodyError) Error() string   { return e.public.Error() }
func (e bodyError) Unwrap() []error { return []error{e.public, e.cause} }

// errBodyBroken is the caller's message for a body that failed for any other reason.
var errBodyBroken = errors.New("request body: the connection broke while reading it")

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.failed != nil {
		// Sticky: a handler (or the framework) draining a broken body must not get a fresh,
		// unbounded read of what the client is still trickling.
		return 0, b.failed
	}
	if b.perRead {
		b.armed = b.rc.SetReadDeadline(time.Now().Add(b.timeout)) == nil
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		public := errBodyBroken
		if errors.Is(err, os.ErrDeadlineExceeded) {
			public = ErrBodyTimeout
		}
		b.failed = bodyError{public: public, cause: err} // the deadline stays set: done reading
		if b.onFail != nil {
			b.onFail()
		}
		return n, b.failed
	case b.armed && (b.perRead || err != nil):
		// Clear after every read of a stream (the handler may work a long time between reads),
		// and at the end of any body: the HTTP/1.1 server then reads in the background to notice
		// the client leaving, and a deadline left set would cancel the handler's context.
		_ = b.rc.SetReadDeadline(time.Time{})
		b.armed = false
	}
	return n, err
}
