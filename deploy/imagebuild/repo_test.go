package imagebuild_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/deploy/imagebuild"
)

// A revision is "-dirty" when what images are made of differs from HEAD: a changed file, or a new
// one git does not ignore (it is built in too); an ignored file or a change elsewhere is not.
func TestHeadCommitSaysWhenTheTreeIsNotTheCommit(t *testing.T) {
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	write := func(path, text string) {
		t.Helper()
		p := filepath.Join(repo, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(path string) {
		t.Helper()
		if err := os.Remove(filepath.Join(repo, path)); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("services/chat/main.go", "package main\n")
	write(".gitignore", "/services/chat/chat.test\n")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	dirty := func() bool {
		t.Helper()
		c, err := imagebuild.HeadCommit(context.Background(), repo)
		if err != nil {
			t.Fatal(err)
		}
		return strings.HasSuffix(c.Revision, "-dirty")
	}
	if dirty() {
		t.Fatal("a clean tree is dirty")
	}
	for _, c := range []struct {
		path      string
		wantDirty bool
	}{
		{"services/chat/new.go", true},     // untracked, not ignored: built in
		{"services/chat/chat.test", false}, // ignored
		{"docs/notes.md", false},           // not what images are made of
	} {
		write(c.path, "x\n")
		if got := dirty(); got != c.wantDirty {
			t.Errorf("with %s: dirty = %v, want %v", c.path, got, c.wantDirty)
		}
		remove(c.path)
	}
	write("services/chat/main.go", "package main // changed\n")
	if !dirty() {
		t.Error("a changed source file is not dirty")
	}
}
