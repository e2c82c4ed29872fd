// Package redisconn opens the one Redis client a service uses, from REDIS_URL, the way pg opens
// its Postgres pool: called from run.go, which closes the client when it returns.
package redisconn

import (
	"fmt"

	"github.com/redis/rueidis"
)

// Open connects to the Redis server redisURL (REDIS_URL: redis://[user:password@]host:port[/db]).
// configure, when given, adjusts the options before connecting (e.g. DisableCache for a service
// that reads each key once). The errors name REDIS_URL, never its password.
func Open(redisURL string, configure ...func(*rueidis.ClientOption)) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	for _, c := range configure {
		c(&opt)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return client, nil
}
