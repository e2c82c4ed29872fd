// Package config loads a service's typed configuration from the environment and describes it for
// the start-up log with secrets masked.
//
// Fields use caarlos0/env tags (`env:"NAME" envDefault:"value"`); add `secret:"true"` to a field
// whose value must never be logged.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Load fills a T from the environment, applying defaults, and reports every problem at once.
func Load[T any]() (T, error) {
	var zero T
	return load(zero)
}

// LoadFrom is Load reading environ (KEY=VALUE entries, as os.Environ returns them) instead of the
// process's environment: for a process that reads the variables it hands to others (the dev
// stack reads the Kafka variables the services it starts inherit).
func LoadFrom[T any](environ []string) (T, error) {
	var cfg T
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	if c, ok := any(&cfg).(interface{ tidyBrokers() }); ok {
		c.tidyBrokers()
	}
	return cfg, nil
}

// load is Load starting from defaults: a field whose variable is unset or empty and whose tag has
// no envDefault keeps its value there.
func load[T any](defaults T) (T, error) {
	cfg := defaults
	if err := env.Parse(&cfg); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	if c, ok := any(&cfg).(interface{ tidyBrokers() }); ok {
		c.tidyBrokers()
	}
	return cfg, nil
}

// Attrs returns one slog attribute per field, named by its environment variable, with secret
// fields masked and passwords removed from URLs, for logging the effective configuration at start.
// The fields of an embedded struct (Common) are listed where it is embedded.
func Attrs(cfg any) []any {
	return appendAttrs(nil, reflect.Indirect(reflect.ValueOf(cfg)))
}

func appendAttrs(attrs []any, v reflect.Value) []any {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			attrs = appendAttrs(attrs, v.Field(i))
			continue
		}
		if name == "" || !f.IsExported() {
			continue
		}
		name = strings.Split(name, ",")[0]
		val := fmt.Sprint(v.Field(i).Interface())
		switch {
		case f.Tag.Get("secret") == "true" && val != "":
			val = "*****"
		default:
			val = MaskURLPassword(val)
		}
		attrs = append(attrs, slog.String(name, val))
	}
	return attrs
}

// MaskURLPassword returns s with the password of a URL's user info replaced by "redacted"
// ("postgres://app:redacted@db:5432/x"); anything else, a URL without a password included, comes
// back unchanged. Use it wherever a URL from the configuration goes into a log line or an error.
func MaskURLPassword(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// Start is how a service's run begins with its configuration: Load, starting from defaults (the
// values no tag can hold, e.g. Config{Service: ServiceDefaults("friend", 8083)}), then one
// "configuration" log line (Attrs: secrets masked), then the validation (nil validate: none),
// whose error comes back as "configuration: …". After the log line, so refused values sit in the
// log next to the refusal; before anything connects, so a bad value fails at once. The validation
// is the shared variables' checks, when T embeds Common and Service (checkService), joined with
// validate's: the service's `func (c Config) validate() error`, passed as the method expression
// Config.validate, which checks the service's own variables only.
func Start[T any](logger *slog.Logger, defaults T, validate func(T) error) (T, error) {
	cfg, err := load(defaults)
	if err != nil {
		return cfg, err
	}
	logger.Info("configuration", Attrs(cfg)...)
	if validate != nil {
		if err := errors.Join(checkService(cfg), validate(cfg)); err != nil {
			return cfg, fmt.Errorf("configuration: %w", err)
		}
	}
	return cfg, nil
}
