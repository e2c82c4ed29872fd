package keyfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/platform/keyfile"
)

func TestLoadReadsAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := keyfile.Load(path, true, func() ([]byte, error) { t.Fatal("generated over an existing file"); return nil, nil }, "")
	if err != nil || created || string(got) != "secret\n" {
		t.Fatalf("Load = %q, %v, %v; want the file's contents, not created", got, created, err)
	}
}

func TestLoadWithoutGenerateNamesThePathAndTheHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	_, _, err := keyfile.Load(path, false, nil, "put a key there (SOME_KEY_FILE)")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.HasSuffix(err.Error(), "put a key there (SOME_KEY_FILE)") {
		t.Fatalf("err = %v; want the path and the hint", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatal("a file was created without generate")
	}
}

func TestLoadCreatesThePrivateFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	got, created, err := keyfile.Load(path, true, func() ([]byte, error) { return []byte("new"), nil }, "")
	if err != nil || !created || string(got) != "new" {
		t.Fatalf("Load = %q, %v, %v; want the new contents, created", got, created, err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if st, err := os.Stat(p); err != nil || st.Mode() != want {
			t.Fatalf("%s: mode %v, %v; want %v", p, st.Mode(), err, want)
		}
	}
	again, created, err := keyfile.Load(path, true, func() ([]byte, error) { return []byte("other"), nil }, "")
	if err != nil || created || string(again) != "new" {
		t.Fatalf("second Load = %q, %v, %v; want the first contents, not created", again, created, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key (no temporary file left)", len(entries))
	}
}

// Replicas starting at once each generate a key; every one must end up with the same file.
func TestLoadConcurrentCreatorsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			got, _, err := keyfile.Load(path, true, func() ([]byte, error) { return []byte{byte('a' + i)}, nil }, "")
			if err != nil {
				t.Error(err)
			}
			results[i] = string(got)
		})
	}
	wg.Wait()
	onDisk, _ := os.ReadFile(path)
	for i, r := range results {
		if r != string(onDisk) {
			t.Fatalf("replica %d got %q, the file holds %q", i, r, onDisk)
		}
	}
}

func TestLoadPassesGenerationErrorsOn(t *testing.T) {
	boom := errors.New("no entropy")
	if _, _, err := keyfile.Load(filepath.Join(t.TempDir(), "key"), true, func() ([]byte, error) { return nil, boom }, ""); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}
