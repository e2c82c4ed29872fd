// Command gencommonpasswords rebuilds internal/commonpasswords/passwords.txt, the list of common
// breached passwords Register refuses, from the public npm package @zxcvbn-ts/language-common
// (MIT licence; its src/passwords.json ranks passwords by how often they occur in public breach
// corpora). See internal/commonpasswords/README.md.
//
//	go run ./tools/gencommonpasswords                     # npm pack the pinned version, then build
//	go run ./tools/gencommonpasswords -tgz language-common-4.1.3.tgz
//
// It keeps the entries a new password could be (MinPasswordRunes to MaxPasswordRunes characters),
// lower-cased, de-duplicated and sorted byte-wise, one a line, so the service can binary-search
// the embedded file. The tarball's SHA-256 is checked, so a rebuild is reproducible.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

const (
	npmPackage = "@zxcvbn-ts/language-common@4.1.3"
	// tarballSHA256 is the SHA-256 of language-common-4.1.3.tgz as the npm registry serves it
	// (npm's own integrity: sha512-g2bg4skmlJG9aJqC/nWziZzgYpSe/f3rKeGobrkdFiOrfZVFqqzUgC6BUQWuX54Sua9j0Jxxt+1bf4f/Mal1Kg==).
	tarballSHA256 = "bf3027c16c069d7877e25dc8751bc819e10e479afcc5ee1a323eb2ab73129ca9"
	listPath      = "package/src/passwords.json"
)

func main() {
	tgz := flag.String("tgz", "", "the package tarball (default: npm pack "+npmPackage+" into a temporary directory)")
	out := flag.String("out", "internal/commonpasswords/passwords.txt", "file to write")
	flag.Parse()
	if err := run(*tgz, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencommonpasswords:", err)
		os.Exit(1)
	}
}

func run(tgz, out string) error {
	if tgz == "" {
		dir, err := os.MkdirTemp("", "commonpasswords")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("npm", "pack", npmPackage, "--pack-destination", dir)
		cmd.Stderr = os.Stderr
		name, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("npm pack %s: %w", npmPackage, err)
		}
		tgz = filepath.Join(dir, strings.TrimSpace(string(name)))
	}
	raw, err := os.ReadFile(tgz)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != tarballSHA256 {
		return fmt.Errorf("%s has SHA-256 %x; want %s (%s)", tgz, sum, tarballSHA256, npmPackage)
	}
	list, err := readList(raw)
	if err != nil {
		return err
	}
	var keep []string
	for _, p := range list {
		if n := utf8.RuneCountInString(p); n >= auth.MinPasswordRunes && n <= auth.MaxPasswordRunes && utf8.ValidString(p) && !strings.ContainsAny(p, "\r\n") {
			keep = append(keep, strings.ToLower(p))
		}
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	if err := os.WriteFile(out, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: %d of %d passwords (%d to %d characters, lower-cased, unique)\n", out, len(keep), len(list), auth.MinPasswordRunes, auth.MaxPasswordRunes)
	return nil
}

// readList returns the JSON array of passwords in the package tarball.
func readList(tgz []byte) ([]string, error) {
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not found in the tarball", listPath)
		}
		if err != nil {
			return nil, err
		}
		if h.Name != listPath {
			continue
		}
		var list []string
		if err := json.NewDecoder(tr).Decode(&list); err != nil {
			return nil, fmt.Errorf("%s: %w", listPath, err)
		}
		return list, nil
	}
}
