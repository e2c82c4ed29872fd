package imagebuild_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/parleyhq/parley/deploy/imagebuild"
)

const root = "../.."

// gatewaySpec builds the gateway's binary into dir and returns the spec of its image at HEAD.
func gatewaySpec(t *testing.T, dir string) imagebuild.Spec {
	t.Helper()
	ctx := context.Background()
	commit, err := imagebuild.HeadCommit(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gateway")
	if err := imagebuild.BuildBinary(ctx, root, "gateway", runtime.GOARCH, bin); err != nil {
		t.Fatal(err)
	}
	return imagebuild.Spec{
		Service: "gateway", Binary: bin, Port: 8080, Arch: runtime.GOARCH,
		Revision: commit.Revision, Source: "https://github.com/parleyhq/parley", Created: commit.Time,
	}
}

// files is an image's flattened file system: each path (without a trailing slash, as
// mutate.Extract writes them) with its header and content.
type file struct {
	hdr  *tar.Header
	data []byte
}

func files(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	fs := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fs[hdr.Name] = file{hdr: hdr, data: b}
	}
}

// The same commit gives the same image, byte for byte, and the image is what docs/deploy.md
// promises: a static binary as a numeric non-root user, CA certificates, labels, nothing else —
// no shell.
func TestGatewayImageIsReproducibleAndMinimal(t *testing.T) {
	first := gatewaySpec(t, t.TempDir())
	second := gatewaySpec(t, t.TempDir()) // built again, elsewhere
	img, err := imagebuild.Image(first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := imagebuild.Image(second)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := again.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two builds of one commit: digests %s and %s", d1, d2)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	created := first.Created.UTC().Truncate(time.Second)
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/gateway"}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want /usr/local/bin/gateway alone", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || !cfg.Created.Equal(created) {
		t.Errorf("platform %s/%s created %v, want linux/%s %v", cfg.OS, cfg.Architecture, cfg.Created, runtime.GOARCH, created)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.revision": first.Revision,
		"org.opencontainers.image.source":   "https://github.com/parleyhq/parley",
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
		"org.opencontainers.image.title":    "parley-gateway",
	}
	for k, v := range wantLabels {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	if len(first.Revision) < 40 {
		t.Errorf("revision %q is not a commit", first.Revision)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", cfg.Config.ExposedPorts)
	}

	fs := files(t, img)
	var names []string
	for name, f := range fs {
		names = append(names, name)
		if !f.hdr.ModTime.Equal(created) {
			t.Errorf("%s: modified %v, want the commit's time %v", name, f.hdr.ModTime, created)
		}
	}
	slices.Sort(names)
	want := []string{
		"etc", "etc/group", "etc/nsswitch.conf", "etc/passwd", "etc/ssl", "etc/ssl/certs",
		"etc/ssl/certs/ca-certificates.crt", "home", "home/nonroot", "tmp",
		"usr", "usr/local", "usr/local/bin", "usr/local/bin/gateway",
	}
	if !slices.Equal(names, want) {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/env"} {
		if _, ok := fs[shell]; ok {
			t.Errorf("%s is in the image", shell)
		}
	}
	if passwd := string(fs["etc/passwd"].data); !strings.Contains(passwd, "\nnonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no user 65532:\n%s", passwd)
	}
	if home := fs["home/nonroot"].hdr; home == nil || home.Uid != 65532 || home.Gid != 65532 {
		t.Errorf("home directory header %+v, want owned by 65532", home)
	}
	if tmp := fs["tmp"].hdr; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp header %+v, want mode 1777", tmp)
	}

	// Certificates: every block parses, and there are as many as the pinned bundle trusts without
	// constraints.
	pemData := fs["etc/ssl/certs/ca-certificates.crt"].data
	n := 0
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatalf("certificate %d: %v", n, err)
		}
		n++
	}
	bundle, err := imagebuild.CABundle()
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 || !bytes.Equal(pemData, bundle) {
		t.Errorf("%d certificates (want the pinned bundle's, over 100)", n)
	}

	// The binary is executable and static: no program interpreter, no shared libraries.
	bin := fs["usr/local/bin/gateway"]
	if bin.hdr.Mode&0o111 == 0 || bin.hdr.Uid != 0 {
		t.Errorf("binary mode %o uid %d, want executable and owned by root (not writable by the service)", bin.hdr.Mode, bin.hdr.Uid)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a program interpreter: it is not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
}

// A web app given to the gateway's image is copied under /srv/web, read-only, and WEB_DIR names
// it; without one, the image has neither.
func TestWebAppLayer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	web := filepath.Join(dir, "dist")
	for name, content := range map[string]string{
		bin:                                  "not run by this test",
		filepath.Join(web, "index.html"):     "<!doctype html>",
		filepath.Join(web, "assets", "a.js"): "console.log(1)",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec := imagebuild.Spec{Service: "gateway", Binary: bin, Port: 8080, Arch: "amd64", Revision: "r", Source: "s",
		Created: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), WebDir: web}
	img, err := imagebuild.Image(spec)
	if err != nil {
		t.Fatal(err)
	}
	fs := files(t, img)
	for name, want := range map[string]string{"srv/web/index.html": "<!doctype html>", "srv/web/assets/a.js": "console.log(1)"} {
		f, ok := fs[name]
		if !ok || string(f.data) != want || f.hdr.Mode != 0o444 {
			t.Errorf("%s: present %v, content %q, mode %o; want %q, 0444", name, ok, f.data, f.hdr.Mode, want)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Config.Env, "WEB_DIR=/srv/web") {
		t.Errorf("env %q, want WEB_DIR=/srv/web", cfg.Config.Env)
	}

	spec.WebDir = ""
	img, err = imagebuild.Image(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for name := range files(t, img) {
		if strings.HasPrefix(name, "srv/") {
			t.Errorf("%s in an image built without a web app", name)
		}
	}
	if slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.HasPrefix(e, "WEB_DIR=") }) {
		t.Errorf("env %q: WEB_DIR without a web app", cfg.Config.Env)
	}
}
