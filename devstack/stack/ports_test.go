package stack

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestFreePortBaseNeverRepeats: within a process, and across processes, a base is handed out once.
func TestFreePortBaseNeverRepeats(t *testing.T) {
	if os.Getenv("PARLEY_PORTBASE_CHILD") == "1" {
		// The child: print 40 bases.
		var out []string
		for range 40 {
			b, err := FreePortBase()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.Itoa(b))
		}
		os.Stdout.WriteString("BASES " + strings.Join(out, " ") + "\n")
		return
	}
	seen := map[int]bool{}
	for range 40 {
		b, err := FreePortBase()
		if err != nil {
			t.Fatal(err)
		}
		if seen[b] {
			t.Fatalf("base %d handed out twice in one process", b)
		}
		if b < 10000 || b+PortSpan > 32768 || b%100 != 0 {
			t.Fatalf("base %d out of range", b)
		}
		seen[b] = true
	}
	// Another process, while this one holds its bases, gets none of them.
	cmd := exec.Command(os.Args[0], "-test.run=^TestFreePortBaseNeverRepeats$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PARLEY_PORTBASE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, list, ok := strings.Cut(string(out), "BASES ")
	if !ok {
		t.Fatalf("child said:\n%s", out)
	}
	for _, f := range strings.Fields(strings.SplitN(list, "\n", 2)[0]) {
		b, _ := strconv.Atoi(f)
		if seen[b] {
			t.Errorf("base %d handed to two processes at once", b)
		}
	}
}
