package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/logtest"
)

// TestBuildServicesLinksOnlyWhatChanged builds a service twice into one directory, as test stacks
// sharing a ServiceBinDir do: the second build leaves the binary alone (the same file, not linked
// again); a change to the service's code builds it again.
func TestBuildServicesLinksOnlyWhatChanged(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	root := fakeRoot(t, fakeAuth)
	st := builder(root, out, out)
	binDir := t.TempDir()
	bin := filepath.Join(binDir, "auth")

	if err := st.buildServices(ctx, binDir, []string{"auth"}); err != nil {
		t.Fatal(err)
	}
	first := written(t, bin)
	if err := st.buildServices(ctx, binDir, []string{"auth"}); err != nil {
		t.Fatal(err)
	}
	if again := written(t, bin); again != first {
		t.Errorf("an up-to-date binary was written again (%s, then %s)", first, again)
	}

	main := filepath.Join(root, "services", "auth", "main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, main, string(src)+"\nvar changed = 1\n")
	if err := st.buildServices(ctx, binDir, []string{"auth"}); err != nil {
		t.Fatal(err)
	}
	if changed := written(t, bin); changed == first {
		t.Error("a changed service was not built again")
	}
}

// TestBuildServicesWaitsForAnotherBuildInTheSameDirectory holds the directory's build lock, as a
// test process building there would, and finds the build waiting for it, then going on.
func TestBuildServicesWaitsForAnotherBuildInTheSameDirectory(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	logs := &logtest.Buffer{}
	st := builder(fakeRoot(t, fakeAuth), logs, output(t))
	binDir := t.TempDir()

	lock, err := os.OpenFile(filepath.Join(binDir, ".build.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.buildServices(ctx, binDir, []string{"auth"}) }()

	// Without the lock the build would have said "building services" within microseconds; a
	// second is only how long this test gives it to show that it does not.
	time.Sleep(time.Second)
	if strings.Contains(logs.String(), "building services") {
		t.Fatalf("the build went on while another held the directory's lock:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "waiting for another build of the services") {
		t.Fatalf("the build waits without saying so:\n%s", logs.String())
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(binDir, "auth")); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

// TestBuildServicesGivesUpOnALockHeldPastItsContext: a build that hangs in another process
// holding the lock fails this one when its context ends, naming the lock and the holder.
func TestBuildServicesGivesUpOnALockHeldPastItsContext(t *testing.T) {
	st := builder(fakeRoot(t, fakeAuth), &logtest.Buffer{}, output(t))
	binDir := t.TempDir()
	path := filepath.Join(binDir, ".build.lock")
	lock, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.WriteString("4242\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err = st.buildServices(ctx, binDir, []string{"auth"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("buildServices with the lock held past its context: %v; want the lock, the holder and the deadline", err)
	}
	if _, err := os.Stat(filepath.Join(binDir, "auth")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a binary was built without the lock: %v", err)
	}
}

// builder is a starter that builds the services of root, its own messages to logs and go's
// output to out.
func builder(root string, logs, out io.Writer) *starter {
	return &starter{o: Options{Root: root, Environ: os.Environ}, log: slog.New(slog.NewTextHandler(logs, nil)), console: NewConsole(out, false, 8)}
}

// written tells one writing of the file at path from another by its inode: go build writes a new
// file, and touches an up-to-date one (so its modification time cannot tell).
func written(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("inode %d", fi.Sys().(*syscall.Stat_t).Ino)
}
