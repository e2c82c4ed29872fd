package main

// The Go runtime's own account of a process's memory and goroutines, read from its
// /debug/pprof/ (the services' admin listener; the bare server serves the same).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// goRuntime is one reading.
type goRuntime struct {
	HeapInuseBytes  int64 `json:"heap_inuse_bytes"`
	StackInuseBytes int64 `json:"stack_inuse_bytes"`
	Goroutines      int64 `json:"goroutines"`
}

// held is the memory the program's data and goroutines occupy.
func (g goRuntime) held() int64 { return g.HeapInuseBytes + g.StackInuseBytes }

// readGoRuntime asks base (".../debug/pprof/") for the heap profile's MemStats after a forced GC
// (gc=1), and for the goroutine count.
func readGoRuntime(ctx context.Context, base string) (goRuntime, error) {
	var g goRuntime
	heap, err := getText(ctx, base+"heap?debug=1&gc=1")
	if err != nil {
		return g, err
	}
	if g.HeapInuseBytes, g.StackInuseBytes, err = parseMemStats(heap); err != nil {
		return g, err
	}
	gr, err := getText(ctx, base+"goroutine?debug=1")
	if err != nil {
		return g, err
	}
	if g.Goroutines, err = parseGoroutineTotal(gr); err != nil {
		return g, err
	}
	return g, nil
}

func getText(ctx context.Context, url string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: HTTP %d", url, res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	return string(b), err
}

// parseMemStats reads "# HeapInuse = N" and "# Stack = inuse / sys" from the text heap profile.
func parseMemStats(text string) (heapInuse, stackInuse int64, err error) {
	var haveHeap, haveStack bool
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(rest, " = ")
		if !ok {
			continue
		}
		switch k {
		case "HeapInuse":
			heapInuse, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			haveHeap = err == nil
		case "Stack":
			inuse, _, _ := strings.Cut(v, " / ")
			stackInuse, err = strconv.ParseInt(strings.TrimSpace(inuse), 10, 64)
			haveStack = err == nil
		}
	}
	if !haveHeap || !haveStack {
		return 0, 0, fmt.Errorf("no HeapInuse / Stack in the heap profile")
	}
	return heapInuse, stackInuse, nil
}

// parseGoroutineTotal reads "goroutine profile: total N".
func parseGoroutineTotal(text string) (int64, error) {
	first, _, _ := strings.Cut(text, "\n")
	rest, ok := strings.CutPrefix(first, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("not a goroutine profile: %q", first)
	}
	return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
}
