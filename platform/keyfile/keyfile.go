// Package keyfile reads a secret a service keeps in a file — a signing key, an encryption key — and,
// in development, creates it on first start. Production mounts the file (a Kubernetes Secret);
// the dev stack and tests let the service generate it in its data directory.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Load returns the contents of the file at path. When it does not exist and generate is true, it
// writes newContents() there and returns that, with created true. The file is written with mode
// 0600 (its directory 0700) through a temporary file linked into place, so it either does not exist
// or is complete, and replicas starting together end up with one file: the one that loses the race
// reads the winner's. A missing file without generate is an error that names path and ends with
// missingHint, which tells the operator what to put there.
func Load(path string, generate bool, newContents func() ([]byte, error), missingHint string) (contents []byte, created bool, err error) {
	contents, err = os.ReadFile(path)
	switch {
	case err == nil:
		return contents, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, err
	case !generate:
		return nil, false, fmt.Errorf("%s does not exist: %s", path, missingHint)
	}
	if contents, err = newContents(); err != nil {
		return nil, false, err
	}
	if err := writeNew(path, contents); errors.Is(err, fs.ErrExist) {
		return Load(path, false, newContents, missingHint)
	} else if err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	return contents, true, nil
}

// writeNew writes contents to a new file at path without ever leaving a partial one there, and
// without overwriting one that exists (fs.ErrExist).
func writeNew(path string, contents []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(contents); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
