package redisconn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/redistest"
)

func TestOpenConnectsWithTheOptionsGiven(t *testing.T) {
	configured := false
	c, err := redisconn.Open("redis://"+redistest.Addr(), func(o *rueidis.ClientOption) { o.DisableCache, configured = true, true })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !configured {
		t.Fatal("the option function was not called")
	}
	if err := c.Do(context.Background(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestOpenNamesWhatIsWrong(t *testing.T) {
	for url, want := range map[string]string{
		"http://nothing":                   "REDIS_URL",
		"redis://user:hunter2@127.0.0.1:1": "connect to redis",
	} {
		_, err := redisconn.Open(url)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want an error naming %q without the password", url, err, want)
		}
	}
}
