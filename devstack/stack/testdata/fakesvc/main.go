// Command fakesvc stands in for a Parley service in the dev stack's tests: it listens on
// LISTEN_ADDR, answers /healthz and /readyz, reports its environment on /env and exits with status 3 on
// /crash. FAKE_MODE=unhealthy makes /healthz fail; FAKE_MODE=crash exits at once.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	name := os.Args[0]
	addr := os.Getenv("LISTEN_ADDR")
	mode := os.Getenv("FAKE_MODE")
	if mode == "crash" {
		fmt.Println("fake service: boom")
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if mode == "unhealthy" {
			http.Error(w, "not today", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"pid": os.Getpid(), "env": os.Environ()})
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "crashing")
		w.(http.Flusher).Flush()
		go func() {
			time.Sleep(50 * time.Millisecond)
			fmt.Println("fake service: crashing on request")
			os.Exit(3)
		}()
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		fmt.Println("fake service: stopping")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("fake service %s listening on %s\n", name, addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Println("fake service:", err)
		os.Exit(1)
	}
}
