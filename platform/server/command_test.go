package server

import (
	"strings"
	"testing"
)

func TestMigrateOnly(t *testing.T) {
	if m, err := MigrateOnly("chat", nil); m || err != nil {
		t.Fatalf("no arguments: %v %v", m, err)
	}
	if m, err := MigrateOnly("chat", []string{"migrate"}); !m || err != nil {
		t.Fatalf("migrate: %v %v", m, err)
	}
	for _, args := range [][]string{{"serve"}, {"migrate", "now"}} {
		if _, err := MigrateOnly("chat", args); err == nil || !strings.Contains(err.Error(), "usage: chat [migrate]") {
			t.Fatalf("%q: %v", args, err)
		}
	}
}
