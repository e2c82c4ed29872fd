// Package imagebuild builds Parley's OCI images without a container daemon: a static Go binary
// on a base of a few files (a non-root user, CA certificates), every byte a function of the
// source, so the same commit gives the same digest.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user every service runs as: numeric, so that Kubernetes' runAsNonRoot can check it without
// reading /etc/passwd, and the same as distroless' "nonroot".
const (
	UID  = 65532
	User = "65532:65532"
)

// Paths inside every image.
const (
	BinDir  = "/usr/local/bin"
	CAFile  = "/etc/ssl/certs/ca-certificates.crt"
	HomeDir = "/home/nonroot"
	// WebDir is where the gateway's image carries the web app, when it is built with one.
	WebDir = "/srv/web"
)

// The OCI labels every image carries.
const (
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
)

// Spec is one service's image.
type Spec struct {
	Service  string    // the directory under services/: the binary's name and the image's title
	Binary   string    // the static binary (BuildBinary)
	Port     int       // the service's port (exposed; documentation only)
	Arch     string    // GOARCH the binary was built for
	Revision string    // the commit (LabelRevision)
	Source   string    // the repository's URL (LabelSource)
	Created  time.Time // the commit's time: the image's, the label's and every file's
	WebDir   string    // a built web app to serve, copied to WebDir with WEB_DIR set (the gateway); empty: none
}

// Image assembles spec's image: a base layer shared by every service (BaseLayer), a layer with
// the binary and, for a web app, a layer with it.
func Image(spec Spec) (v1.Image, error) {
	created := spec.Created.UTC().Truncate(time.Second)
	entrypoint := path.Join(BinDir, spec.Service)
	env := []string{"PATH=" + BinDir, "SSL_CERT_FILE=" + CAFile}
	if spec.WebDir != "" {
		env = append(env, "WEB_DIR="+WebDir)
	}
	cfg := &v1.ConfigFile{
		Architecture: spec.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:         User,
			Entrypoint:   []string{entrypoint},
			Env:          env,
			WorkingDir:   HomeDir,
			ExposedPorts: map[string]struct{}{strconv.Itoa(spec.Port) + "/tcp": {}},
			Labels: map[string]string{
				LabelRevision: spec.Revision,
				LabelSource:   spec.Source,
				LabelCreated:  created.Format(time.RFC3339),
				LabelTitle:    "parley-" + spec.Service,
			},
		},
	}
	img, err := mutate.ConfigFile(mutate.MediaType(empty.Image, types.OCIManifestSchema1), cfg)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)

	base, err := BaseLayer(created)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	app := newTree(created)
	app.dir("usr/", 0o755)
	app.dir("usr/local/", 0o755)
	app.dir("usr/local/bin/", 0o755)
	app.file(entrypoint[1:], 0o555, bin)
	appLayer, err := app.layer()
	if err != nil {
		return nil, err
	}
	adds := []mutate.Addendum{
		{Layer: base, History: history(created, "parley: base (user nonroot 65532, CA certificates)")},
		{Layer: appLayer, History: history(created, "parley: "+entrypoint)},
	}
	if spec.WebDir != "" {
		web, err := webLayer(spec.WebDir, created)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: web, History: history(created, "parley: web app in "+WebDir)})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	return img, nil
}

func history(created time.Time, by string) v1.History {
	return v1.History{Created: v1.Time{Time: created}, CreatedBy: by}
}

// BaseLayer is what every image has besides its binary: /etc/passwd and /etc/group naming root
// and nonroot (65532), a home directory, a world-writable /tmp, nsswitch.conf (files before DNS,
// as Go's resolver expects) and the CA bundle. No shell, no package manager, no libc: the
// binaries are static.
func BaseLayer(created time.Time) (v1.Layer, error) {
	ca, err := CABundle()
	if err != nil {
		return nil, err
	}
	t := newTree(created)
	t.dir("etc/", 0o755)
	t.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
	t.file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n"))
	t.file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n"))
	t.dir("etc/ssl/", 0o755)
	t.dir("etc/ssl/certs/", 0o755)
	t.file(CAFile[1:], 0o644, ca)
	t.dir("home/", 0o755)
	t.owned("home/nonroot/", 0o700, UID)
	t.dir("tmp/", 0o1777)
	return t.layer()
}

// webLayer copies a built web app to WebDir, read-only, in name order.
func webLayer(dir string, created time.Time) (v1.Layer, error) {
	t := newTree(created)
	t.dir("srv/", 0o755)
	t.dir("srv/web/", 0o755)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(WebDir[1:], filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			t.dir(name+"/", 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			t.file(name, 0o444, b)
		default:
			return fmt.Errorf("%s: only files and directories can go into the image", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web app %s: %w", dir, err)
	}
	return t.layer()
}

// tree is a layer's entries, written sorted by name with fixed owners and times, so that its
// bytes depend only on its contents.
type tree struct {
	mtime   time.Time
	entries []entry
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func newTree(mtime time.Time) *tree { return &tree{mtime: mtime} }

func (t *tree) dir(name string, mode int64) { t.owned(name, mode, 0) }

func (t *tree) owned(name string, mode int64, id int) {
	t.entries = append(t.entries, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: id, Gid: id}})
}

func (t *tree) file(name string, mode int64, data []byte) {
	t.entries = append(t.entries, entry{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))},
		data: data,
	})
}

// layer writes the tar (USTAR: no access or change times, no user or group names) and gzips it.
func (t *tree) layer() (v1.Layer, error) {
	slices.SortFunc(t.entries, func(a, b entry) int {
		switch {
		case a.hdr.Name < b.hdr.Name:
			return -1
		case a.hdr.Name > b.hdr.Name:
			return 1
		}
		return 0
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range t.entries {
		hdr := e.hdr
		hdr.ModTime = t.mtime
		hdr.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
