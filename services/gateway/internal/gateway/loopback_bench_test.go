package gateway_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authntest"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// processCPU is this process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ioSyscalls is how many read and write system calls this process has made so far
// (/proc/self/io: syscr + syscw).
func ioSyscalls(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatal("no /proc/self/io: ", err)
	}
	var n int64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		} else if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
	}
	return n
}

// BenchmarkForwardedOverLoopback is a Connect unary call through the gateway to a service behind
// it, both on loopback TCP with keep-alive connections, as in a deployment: what the forwarding
// costs in system calls and wake-ups shows here, where BenchmarkProxiedCall's canned upstream has
// none. cpu-µs/op is the CPU of the whole process per call — client, gateway and service — read
// from getrusage, so it stays meaningful on a busy machine where ns/op does not; syscalls/op
// counts the reads and writes of the whole process per call (/proc/self/io).
//
//	cd services/gateway && go test -run '^$' -bench ForwardedOverLoopback -benchtime 20000x ./internal/gateway/
func BenchmarkForwardedOverLoopback(b *testing.B) {
	const answer = `{"available":true}`
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer service.Close()
	up, err := gateway.NewUpstream("profile", service.URL)
	if err != nil {
		b.Fatal(err)
	}
	transport := gateway.NewProxyTransport()
	g, err := gateway.New(gateway.Options{
		Logger:           slog.New(slog.DiscardHandler),
		Upstreams:        []gateway.Upstream{up},
		Verifier:         authntest.New(b).Verifier(),
		PublicProcedures: []string{profilev1connect.ProfileServiceCheckNicknameProcedure},
		Transport:        transport,
	})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(g.Handler())
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	url := front.URL + "/api" + profilev1connect.ProfileServiceCheckNicknameProcedure
	const body = `{"nickname":"free"}`

	call := func() error {
		res, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		got, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err == nil && (res.StatusCode != http.StatusOK || string(got) != answer) {
			b.Errorf("HTTP %d: %s", res.StatusCode, got)
		}
		return err
	}
	if err := call(); err != nil { // connections up before the clock starts
		b.Fatal(err)
	}
	b.SetParallelism(4)
	cpu0, sys0 := processCPU(b), ioSyscalls(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(ioSyscalls(b)-sys0)/float64(b.N), "syscalls/op")
}
