package server

import "fmt"

// MigrateOnly reads a service's command line: no arguments serve; the one argument "migrate"
// applies the migrations and exits (operators run it before a rollout). Anything else is an error
// naming the usage.
func MigrateOnly(service string, args []string) (bool, error) {
	switch {
	case len(args) == 0:
		return false, nil
	case len(args) == 1 && args[0] == "migrate":
		return true, nil
	}
	return false, fmt.Errorf("unknown arguments %q: usage: %s [migrate]", args, service)
}
