package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
)

// accessTokenTTL is the web test stack's ACCESS_TOKEN_TTL. The app renews a token 60 s before it
// expires, so with 65 s it renews every 5 s, and run.mjs's timed steps — two open tabs, and a
// browser clock 3 minutes off either way, must each renew twice on their timers and stay signed
// in — take about 10 s each instead of being skipped. Every other step then runs with tokens
// renewed under it, as a long session does.
const accessTokenTTL = 65

// TestWebApp is the web app's browser test (web/e2e/run.mjs: Debian's Chromium driven by
// playwright-core, two people through every flow, docs/web.md#browser-tests) against a dev stack
// of its own whose gateway serves a build of the current sources, made here with `npm run build`
// into web/dist (what `make web` makes). run.mjs's output streams into the test's; a non-zero exit
// fails the test. Without Node.js, the installed packages or Chromium it fails saying what to
// install: CI installs them, and a green run must have driven the browser.
func TestWebApp(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "web")
	requireWebTools(t, root)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	runIn(ctx, t, web, nil, "npm", "run", "build")

	s := stacktest.Start(t, stack.Options{
		Environ: func() []string {
			return append(os.Environ(),
				"WEB_DIR="+filepath.Join(web, "dist"),
				fmt.Sprintf("ACCESS_TOKEN_TTL=%ds", accessTokenTTL),
				// Every person signs up and in from one IP, and every tab refreshes every 15 s;
				// the per-IP limit is the gateway suite's to test.
				"RATE_LIMIT_AUTH=10000",
			)
		},
	})
	t.Logf("stack up: the app at %s", s.GatewayURL())
	if s.MailpitURL() == "" {
		// run.mjs would skip the password-reset and email-confirmation steps without it.
		t.Fatal("the stack has no mail catcher (MailpitURL); the browser test follows the emails' links")
	}
	runIn(ctx, t, web, []string{
		"PARLEY_WEB_URL=" + s.GatewayURL(),
		fmt.Sprintf("PARLEY_E2E_ACCESS_TOKEN_TTL_SECONDS=%d", accessTokenTTL),
		// The password-reset and email-confirmation steps read the emails from the mail catcher.
		"PARLEY_MAIL_URL=" + s.MailpitURL(),
	}, "node", "e2e/run.mjs")
}

// requireWebTools fails the test, saying how to install them, without Node.js (a version
// web/package.json accepts), npm, the web app's packages or Chromium.
func requireWebTools(t *testing.T, root string) {
	t.Helper()
	const install = "`go run ./devstack install nodejs npm chromium` installs what is missing (as root, from the OS packages; .ci/run does it in CI)"
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("the web app's tests need npm: %v; %s", err, install)
	}
	if err := stack.CheckNode(t.Context(), root); err != nil {
		t.Fatalf("the web app's tests need Node.js: %v; %s", err, install)
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium" // run.mjs's default
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser tests drive Debian's Chromium: %v; %s, or set CHROMIUM_PATH", err, install)
	}
	// The packages come from `npm ci` (make test-e2e runs it first, as make web does); a test does
	// not reinstall them under a developer's running `npm run dev`.
	web := filepath.Join(root, "web")
	installed, err := os.Stat(filepath.Join(web, "node_modules", ".package-lock.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("web/node_modules is not installed: run `make web` (or `cd web && npm ci`)")
	} else if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		fi, err := os.Stat(filepath.Join(web, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.ModTime().After(installed.ModTime()) {
			t.Fatalf("web/%s is newer than web/node_modules: run `make web` (or `cd web && npm ci`)", f)
		}
	}
}

// runIn runs a command in dir with extra environment variables, its output streamed into the
// test's, and fails the test if it fails.
func runIn(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := t.Output()
	cmd.Stdout, cmd.Stderr = out, out // one writer: exec then writes from one goroutine at a time
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v in %s: %v (its output is above; run.mjs leaves screenshots of a failure in web/e2e/out/)", name, args, dir, err)
	}
}
