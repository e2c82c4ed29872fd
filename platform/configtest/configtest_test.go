package configtest_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
)

var bad = map[string]string{"A_VAR": "x", "B_VAR": "-1"}

// runs stands for a service's run: it refuses whichever of bad's variables is set, or fails
// otherwise when broken says how.
func runs(broken string) func() error {
	return func() error {
		for env := range bad {
			if v, ok := os.LookupEnv(env); ok {
				switch broken {
				case "unnamed":
					return errors.New("configuration: bad value")
				case "not configuration":
					return fmt.Errorf("connect: %s=%s", env, v)
				case "accepts":
					return nil
				}
				return fmt.Errorf("configuration: %s: bad value %q", env, v)
			}
		}
		return errors.New("nothing set")
	}
}

func TestRunRefuses(t *testing.T) {
	if broken := os.Getenv("CONFIGTEST_BROKEN"); broken != "" {
		configtest.RunRefuses(t, bad, runs(broken)) // run by the test below in a child: must fail
		return
	}
	configtest.RunRefuses(t, bad, runs(""))

	for _, broken := range []string{"unnamed", "not configuration", "accepts"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunRefuses$", "-test.v")
		cmd.Env = append(os.Environ(), "CONFIGTEST_BROKEN="+broken)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "want a configuration error naming") {
			t.Errorf("a run that %s: %v\n%s; want the check to fail", broken, err, out)
		}
	}
}
