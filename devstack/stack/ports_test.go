package stack

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestFreePortBaseNeverRepeats: within a process, and across processes, the ranges handed out never
// overlap.
func TestFreePortBaseNeverRepeats(t *testing.T) {
	if os.Getenv("PARLEY_PORTBASE_CHILD") == "1" {
		// The child: print 20 bases.
		var out []string
		for range 20 {
			b, err := FreePortBase()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.Itoa(b))
		}
		os.Stdout.WriteString("BASES " + strings.Join(out, " ") + "\n")
		return
	}
	var spans [][2]int
	for range 20 {
		b, err := FreePortBase()
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range spans {
			if b < sp[1] && sp[0] < b+PortSpan {
				t.Fatalf("base %d's range overlaps %d-%d, handed out before in this process", b, sp[0], sp[1]-1)
			}
		}
		spans = append(spans, [2]int{b, b + PortSpan})
		if b < 10000 || b+PortSpan > 32768 || b%100 != 0 {
			t.Fatalf("base %d out of range", b)
		}
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
		for _, sp := range spans {
			if b < sp[1] && sp[0] < b+PortSpan {
				t.Errorf("base %d handed to another process while this one holds %d-%d", b, sp[0], sp[1]-1)
			}
		}
	}
}
