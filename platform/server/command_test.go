package server

import (
	"context"
	"errors"
	"log/slog"
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

func TestRunMain(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	flushed := 0
	flush := func() { flushed++ }

	var gotArgs []string
	code := runMain("chat", logger, flush, []string{"migrate"}, func(ctx context.Context, _ *slog.Logger, args []string) error {
		if ctx.Err() != nil {
			t.Error("run's context ended before run")
		}
		gotArgs = args
		return nil
	})
	if code != 0 || flushed != 1 || len(gotArgs) != 1 || gotArgs[0] != "migrate" || logs.Len() != 0 {
		t.Fatalf("success: code %d, flushed %d, args %q, logs %q", code, flushed, gotArgs, logs.String())
	}

	code = runMain("chat", logger, flush, nil, func(context.Context, *slog.Logger, []string) error {
		return errors.New("boom")
	})
	if code != 1 || flushed != 2 || !strings.Contains(logs.String(), `msg="chat failed" error=boom`) {
		t.Fatalf("failure: code %d, flushed %d, logs %q", code, flushed, logs.String())
	}
}
