package stack

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/platform/logtest"
)

func TestLineWriterPrefixesWholeLines(t *testing.T) {
	var out strings.Builder
	c := NewConsole(&out, false, 8)
	w := c.Writer("auth")
	for _, chunk := range []string{"hel", "lo\nwor", "ld\r\n", "\n", "tail without newline"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := out.String(), "auth     | hello\nauth     | world\nauth     | \n"; got != want {
		t.Fatalf("before flush:\n%q\nwant\n%q", got, want)
	}
	if got := strings.Join(w.Tail(), "|"); got != "hello|world||tail without newline" {
		t.Errorf("Tail = %q", got)
	}
	w.Flush()
	if !strings.HasSuffix(out.String(), "auth     | tail without newline\n") {
		t.Errorf("flush did not write the last line: %q", out.String())
	}
}

func TestLineWriterColourAndLongNames(t *testing.T) {
	var out strings.Builder
	c := NewConsole(&out, true, 4)
	fmt.Fprint(c.Writer("notification"), "x\n")
	got := out.String()
	if !strings.HasPrefix(got, "\x1b[") || !strings.Contains(got, "notification |"+resetColor+" x\n") {
		t.Fatalf("coloured line = %q", got)
	}
	// Same name, same colour, across consoles (runs).
	var again strings.Builder
	fmt.Fprint(NewConsole(&again, true, 4).Writer("notification"), "x\n")
	if again.String() != got {
		t.Errorf("colour changed between runs: %q vs %q", again.String(), got)
	}
}

func TestLineWriterTailKeepsTheLastLines(t *testing.T) {
	w := NewConsole(nil, false, 0).Writer("x")
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	tail := w.Tail()
	if len(tail) != tailLines || tail[0] != fmt.Sprintf("line %d", 100-tailLines) || tail[len(tail)-1] != "line 99" {
		t.Fatalf("Tail = %q", tail)
	}
}

func TestLineWriterSplitsOverlongLines(t *testing.T) {
	var out strings.Builder
	w := NewConsole(&out, false, 0).Writer("x")
	fmt.Fprint(w, strings.Repeat("a", maxLine+10))
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("an overlong line should be written out once it reaches %d bytes; got %d lines", maxLine, n)
	}
}

func TestConsoleNeverInterleavesWithinALine(t *testing.T) {
	var out logtest.Buffer
	c := NewConsole(&out, false, 1)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := c.Writer(name)
			for i := range 500 {
				// Each line arrives in three writes.
				fmt.Fprintf(w, "%s-%d-", name, i)
				fmt.Fprint(w, "middle-")
				fmt.Fprintf(w, "end\n")
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines, want 2000", len(lines))
	}
	for _, l := range lines {
		name := l[:1]
		var i int
		if _, err := fmt.Sscanf(l, name+" | "+name+"-%d-middle-end", &i); err != nil {
			t.Fatalf("mangled line %q: %v", l, err)
		}
	}
}
