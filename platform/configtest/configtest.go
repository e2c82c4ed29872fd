// Package configtest checks how a service's program treats its configuration (platform/config).
package configtest

import (
	"strings"
	"testing"
)

// RunRefuses checks that run refuses each of bad's variables, set to its value one at a time in
// a subtest named after the variable: run must fail with a configuration error ("configuration: "
// from platform/config) that names the variable. run is the service's run, started with nothing
// listening on the default addresses, so that an error naming the variable can only come from the
// checks made right after the configuration is loaded.
func RunRefuses(t *testing.T, bad map[string]string, run func() error) {
	t.Helper()
	for env, value := range bad {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, value)
			err := run()
			if err == nil || !strings.Contains(err.Error(), env) || !strings.HasPrefix(err.Error(), "configuration: ") {
				t.Fatalf("run with %s=%q = %v; want a configuration error naming %s", env, value, err, env)
			}
		})
	}
}
