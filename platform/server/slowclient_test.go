package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The server's timeouts are configured small here; each test trickles its bytes far slower than
// it would take to finish within patience, and asserts only that the server gave up first.
const (
	smallTimeout = 300 * time.Millisecond
	patience     = 5 * time.Second // the test's own deadline: generous, never a timing assertion
)

func smallTimeouts(s *Server) {
	s.ReadHeaderTimeout = smallTimeout
	s.IdleTimeout = smallTimeout
	s.BodyReadTimeout = smallTimeout
}

// trickle writes head at once, then slow one byte at a time, every interval, until the test ends
// or a write fails (the server closed the connection).
func trickle(t *testing.T, conn net.Conn, head, slow []byte, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); conn.Close(); <-done })
	go func() {
		defer close(done)
		if _, err := conn.Write(head); err != nil {
			return
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for _, b := range slow {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
}

// closedByServer reads what the server sends until it closes the connection, failing the test if
// that does not happen within patience. It returns what was read.
func closedByServer(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a trickling connection open for %v (read so far: %q)", patience, got)
	}
	return string(got) // EOF or a reset: the server closed it
}

func dial(t *testing.T, f *fixture) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestSlowlorisHTTP1HeadersAreCutOff(t *testing.T) {
	f := start(t, smallTimeouts)
	conn := dial(t, f)
	head := "POST " + echoProcedure + " HTTP/1.1\r\nHost: parley\r\nX-Slow: "
	trickle(t, conn, []byte(head), []byte(strings.Repeat("a", 1000)), 50*time.Millisecond)
	if got := closedByServer(t, conn); strings.Contains(got, "200 OK") {
		t.Fatalf("a request whose headers never ended was answered: %q", got)
	}
}

// h2cPreface is what an HTTP/2 client without TLS sends first.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func TestSlowlorisH2CPrefaceIsCutOff(t *testing.T) {
	f := start(t, smallTimeouts)
	conn := dial(t, f)
	// 24 bytes at one every 500ms would take 12s: longer than patience.
	trickle(t, conn, nil, []byte(h2cPreface), 500*time.Millisecond)
	closedByServer(t, conn)
}

func TestSlowlorisH2CHeadersAreCutOff(t *testing.T) {
	f := start(t, smallTimeouts)
	conn := dial(t, f)
	settings := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0} // empty SETTINGS frame on stream 0
	// A HEADERS frame (type 1, END_HEADERS) on stream 1 announcing 255 bytes of header block,
	// which then come one every 50ms: the stream never opens.
	headers := []byte{0, 0, 255, 0x1, 0x4, 0, 0, 0, 1}
	head := append(append([]byte(h2cPreface), settings...), headers...)
	trickle(t, conn, head, make([]byte, 255), 50*time.Millisecond)
	closedByServer(t, conn)
}

func TestTricklingBodyIsCutOffHTTP1(t *testing.T) {
	f := start(t, smallTimeouts)
	conn := dial(t, f)
	body := `"` + strings.Repeat("a", 200) + `"`
	head := "POST " + echoProcedure + " HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	trickle(t, conn, []byte(head), []byte(body), 50*time.Millisecond)
	got := closedByServer(t, conn)
	wantBodyTimeoutAnswer(t, got)
}

// wantBodyTimeoutAnswer checks the answer to a body that missed its deadline: deadline_exceeded
// with the fixed message, nothing about the connection.
func wantBodyTimeoutAnswer(t *testing.T, got string) {
	t.Helper()
	if !strings.Contains(got, `"code":"deadline_exceeded"`) || !strings.Contains(got, ErrBodyTimeout.Error()) || strings.Contains(got, "127.0.0.1") {
		t.Fatalf("answer to a trickling body: %q", got)
	}
}

func TestTricklingBodyIsCutOffH2C(t *testing.T) {
	f := start(t, smallTimeouts)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { // a JSON body that would take 10s to arrive
		defer pw.Close()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for _, b := range []byte(`"` + strings.Repeat("a", 200) + `"`) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := pw.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	reqCtx, stop := context.WithTimeout(ctx, patience)
	defer stop()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, f.url+echoProcedure, pr)
	req.Header.Set("Content-Type", "application/json")
	res, err := h2c.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no answer within %v to a trickling body", patience)
	}
	if err != nil {
		t.Fatalf("a trickling body got no answer: %v", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the answer did not end within %v", patience)
	}
	wantBodyTimeoutAnswer(t, string(raw))
}

// A client stream lives longer than BodyReadTimeout: it is bounded per read, so it works as long
// as each message comes in time, and a stream that stops sending is cut off.
func TestClientStreamsAreBoundedPerRead(t *testing.T) {
	const concat = "/test.v1.StreamService/Concat"
	f := start(t, smallTimeouts, func(s *Server) {
		s.MountStream("/test.v1.StreamService/", connect.NewClientStreamHandler(concat,
			func(_ context.Context, st *connect.ClientStream[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
				var b strings.Builder
				for st.Receive() {
					b.WriteString(st.Msg().GetValue())
				}
				if err := st.Err(); err != nil {
					return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("stream broke"))
				}
				return connect.NewResponse(wrapperspb.String(b.String())), nil
			}))
	})
	client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](h2c, f.url+concat)

	// Ten messages, 100ms apart: a second in all, longer than the 300ms budget of a unary body.
	stream := client.CallClientStream(context.Background())
	for range 10 {
		time.Sleep(100 * time.Millisecond) // a slow but live client, not synchronisation
		if err := stream.Send(wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil || res.Msg.GetValue() != strings.Repeat("x", 10) {
		t.Fatalf("a live stream longer than BodyReadTimeout: %v %v", res, err)
	}

	// A stream that sends once and then nothing: the server answers before patience ends, while
	// the client still holds its side open (raw request: the Connect client would wait to close).
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url+concat, pr)
	req.Header.Set("Content-Type", "application/connect+json")
	go func() { _, _ = pw.Write(append([]byte{0, 0, 0, 0, 3}, `"x"`...)) }()
	hres, err := h2c.Do(req)
	if err != nil {
		t.Fatalf("idle stream: %v", err)
	}
	defer hres.Body.Close()
	raw, err := io.ReadAll(hres.Body)
	if err != nil {
		t.Fatalf("an idle stream was not cut off within %v: %v", patience, err)
	}
	if !strings.Contains(string(raw), "invalid_argument") {
		t.Fatalf("idle stream answer: %q", raw)
	}
}
