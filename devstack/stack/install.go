package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// installable are the Debian packages `devstack install` provides, each with the command whose
// presence on PATH means it is there: a Node.js from elsewhere (NodeSource, nvm) counts, so apt-get
// never replaces it.
var installable = map[string]string{
	"nodejs":   "node",
	"npm":      "npm",
	"chromium": "chromium",
}

// Install makes sure the commands of the Debian packages pkgs (nodejs, npm, chromium) are on PATH,
// installing the missing ones as the stack installs Postgres and Redis: as root, with apt-get,
// unless NoInstall — one implementation for `make web` and anything else that needs them. With
// nodejs it then checks node against web/package.json's engines (CheckNode): an apt-get on Debian
// 12 brings Node.js 18, which the web app's build cannot use.
func Install(ctx context.Context, opts Options, pkgs []string) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var missing []string
	for _, p := range pkgs {
		cmd, ok := installable[p]
		if !ok {
			return fmt.Errorf("install: no package %q here (known: %s)", p, strings.Join(slices.Sorted(maps.Keys(installable)), ", "))
		}
		if _, err := exec.LookPath(cmd); err != nil && !slices.Contains(missing, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		console := NewConsole(o.Output, false, len("devstack"))
		logger := o.Logger
		if logger == nil {
			logger = slog.New(slog.NewTextHandler(console.Writer("devstack"), &slog.HandlerOptions{ReplaceAttr: dropTime}))
		}
		st := &starter{o: o, log: logger, console: console}
		why := "missing: " + strings.Join(missing, " ")
		if err := st.install(ctx, why, missing...); err != nil {
			return err
		}
		for _, p := range missing {
			if _, err := exec.LookPath(installable[p]); err != nil {
				return fmt.Errorf("installed %s, but there is still no %s on PATH", p, installable[p])
			}
		}
	}
	if !slices.Contains(pkgs, "nodejs") {
		return nil
	}
	err = CheckNode(ctx, o.Root)
	if !errors.Is(err, errNodeTooOld) || o.NoInstall {
		return err
	}
	// The OS's Node.js is too old (Debian 12's and Ubuntu 24.04's are 18): take one from the npm
	// registry, which its npm reaches, into .bin, which every make target puts first on PATH.
	node, installErr := nodeFromRegistry(ctx, o.Root)
	if installErr != nil {
		return fmt.Errorf("%w; and installing Node.js %s from the npm registry failed: %w", err, registryNodeVersion, installErr)
	}
	fmt.Fprintf(o.Output, "devstack: Node.js %s from the npm registry is %s (make puts .bin first on PATH)\n", registryNodeVersion, node)
	return checkNodeAt(ctx, o.Root, node)
}

// registryNodeVersion is the Node.js taken from the npm registry when the OS's is too old for the
// web app: the node-linux-<arch> packages carry the official binaries, and npm — which even an
// old Node.js has — fetches them from the one registry these machines reach.
const registryNodeVersion = "22.23.5"

// registryNodePackage names the npm package that carries Node.js for goos/goarch: the registry
// has the official binaries for Linux on amd64 and arm64.
func registryNodePackage(goos, goarch string) (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[goarch]
	if goos != "linux" || arch == "" {
		return "", fmt.Errorf("the npm registry has no Node.js package for %s/%s", goos, goarch)
	}
	return "node-linux-" + arch, nil
}

// nodeFromRegistry installs registryNodeVersion with npm into <root>/.bin/nodejs and links
// <root>/.bin/node to its binary; it returns that link.
func nodeFromRegistry(ctx context.Context, root string) (string, error) {
	pkg, err := registryNodePackage(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".bin", "nodejs")
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save",
		"--ignore-scripts", pkg+"@"+registryNodeVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s@%s: %w: %s", pkg, registryNodeVersion, err, strings.TrimSpace(string(out)))
	}
	bin := filepath.Join(dir, "node_modules", pkg, "bin", "node")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("npm installed %s, but %w", pkg, err)
	}
	link := filepath.Join(root, ".bin", "node")
	_ = os.Remove(link)
	if err := os.Symlink(bin, link); err != nil {
		return "", err
	}
	return link, nil
}

// CheckNode fails, naming the version needed, when the node on PATH is not one that the web app's
// web/package.json accepts in "engines" (Vite 7 needs ^20.19 or >= 22.12): npm only warns about
// engines, and the build would then fail with an error that does not say why. No web/package.json,
// or no engines.node in it: nothing to check.
func CheckNode(ctx context.Context, root string) error {
	return checkNodeAt(ctx, root, "node")
}

// errNodeTooOld marks CheckNode's refusal of a node outside web/package.json's engines.
var errNodeTooOld = errors.New("node too old for the web app")

// checkNodeAt is CheckNode for the node binary at node.
func checkNodeAt(ctx context.Context, root, node string) error {
	manifest := filepath.Join(root, "web", "package.json")
	b, err := os.ReadFile(manifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var pkg struct {
		Engines struct {
			Node string `json:"node"`
		} `json:"engines"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Errorf("%s: %w", manifest, err)
	}
	want := pkg.Engines.Node
	if want == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return fmt.Errorf("node --version: %w (the web app needs Node.js %s)", err, want)
	}
	have := strings.TrimSpace(string(out))
	ok, err := versionSatisfies(have, want)
	if err != nil {
		return fmt.Errorf("%s: engines.node %q: %w", manifest, want, err)
	}
	if !ok {
		return fmt.Errorf("%w: the web app needs Node.js %s (web/package.json's engines; Vite's own requirement), but node is %s: "+
			"install a newer Node.js (Debian 12's nodejs package is 18: take NodeSource's, nvm's or a newer Debian's) and run again", errNodeTooOld, want, have)
	}
	return nil
}

// versionSatisfies reports whether version (such as v20.19.2) is in an npm semver range made of
// what package.json engines use: alternatives joined by ||, each of comparators separated by
// spaces, a comparator being a version, partial or whole, after one of ^ ~ >= > <= < =. Any other
// range is an error rather than a guess.
func versionSatisfies(version, constraint string) (bool, error) {
	v, err := parseVersion(strings.TrimPrefix(version, "v"))
	if err != nil {
		return false, fmt.Errorf("version %q: %w", version, err)
	}
	for alt := range strings.SplitSeq(constraint, "||") {
		fields := strings.Fields(alt)
		if len(fields) == 0 {
			return false, errors.New("an empty alternative")
		}
		all := true
		for _, c := range fields {
			ok, err := comparatorHolds(v, c)
			if err != nil {
				return false, err
			}
			all = all && ok
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

// semver is major, minor, patch; a pre-release or build suffix is not compared.
type semver [3]int

func (a semver) cmp(b semver) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// parseVersion reads "20", "20.19" or "20.19.2" (with any -pre or +build suffix dropped), and how
// many parts were given.
func parseVersion(s string) (semver, error) {
	v, _, err := parsePartial(s)
	return v, err
}

func parsePartial(s string) (semver, int, error) {
	s, _, _ = strings.Cut(s, "+")
	s, _, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return semver{}, 0, fmt.Errorf("%q is not a version", s)
	}
	var v semver
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return semver{}, 0, fmt.Errorf("%q is not a version", s)
		}
		v[i] = n
	}
	return v, len(parts), nil
}

// comparatorHolds checks one comparator such as ^20.19.0, >=22.12.0 or ~1.2.
func comparatorHolds(v semver, c string) (bool, error) {
	if c == "*" || c == "x" || c == "X" {
		return true, nil
	}
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
		if strings.HasPrefix(c, o) {
			op = o
			break
		}
	}
	bound, given, err := parsePartial(strings.TrimPrefix(strings.TrimPrefix(c, op), "v"))
	if err != nil {
		return false, fmt.Errorf("comparator %q: %w", c, err)
	}
	// The first version past a partial one: <21 for 20, <20.20 for 20.19.
	next := func(parts int) semver {
		n := bound
		n[parts-1]++
		for i := parts; i < 3; i++ {
			n[i] = 0
		}
		return n
	}
	switch op {
	case ">=":
		return v.cmp(bound) >= 0, nil
	case ">":
		return v.cmp(next(given)) >= 0, nil
	case "<=":
		return v.cmp(next(given)) < 0, nil
	case "<":
		return v.cmp(bound) < 0, nil
	case "^":
		// Up to the next change of the first non-zero part given.
		parts := 1
		for parts < given && bound[parts-1] == 0 {
			parts++
		}
		return v.cmp(bound) >= 0 && v.cmp(next(parts)) < 0, nil
	case "~":
		return v.cmp(bound) >= 0 && v.cmp(next(min(given, 2))) < 0, nil
	default: // "=" or a bare version: that version, or any within a partial one
		return v.cmp(bound) >= 0 && v.cmp(next(given)) < 0, nil
	}
}
