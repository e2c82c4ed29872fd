package stack

import (
	"context"
	"strings"
	"time"
)

// ComponentStatus is one line of Status: what, where, and whether it answers (Err nil).
type ComponentStatus struct {
	Name    string
	Address string
	Err     error
}

// Status checks, without starting anything, whether each piece of infrastructure (and, with
// services, each service written so far) answers where opts say it should. `devstack status`
// prints it; Tilt's infra resource uses it as its readiness probe.
func Status(ctx context.Context, opts Options, services bool) []ComponentStatus {
	o, err := opts.withDefaults()
	if err != nil {
		return []ComponentStatus{{Name: "config", Err: err}}
	}
	e := o.endpoints()
	check := func(f func(context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return f(cctx)
	}
	out := []ComponentStatus{
		{"postgres", maskURL(e.DatabaseURL), check(func(ctx context.Context) error { return pgAccepts(ctx, e.DatabaseURL) })},
		{"redis", maskURL(e.RedisURL), check(func(ctx context.Context) error {
			if e.LocalRedis {
				return redisPing(ctx, hostPort(e.RedisURL))
			}
			return tcpOpen(ctx, hostPort(e.RedisURL))
		})},
		{"kafka", strings.Join(e.KafkaBrokers, ","), check(func(ctx context.Context) error { return tcpOpen(ctx, e.KafkaBrokers[0]) })},
		{"s3", e.S3Endpoint, check(func(ctx context.Context) error {
			if e.LocalS3 {
				return httpOK(ctx, e.S3Endpoint+s3HealthPath)
			}
			return tcpOpen(ctx, hostPort(e.S3Endpoint))
		})},
		{"smtp", maskURL(e.SMTPURL), check(func(ctx context.Context) error { return tcpOpen(ctx, hostPort(e.SMTPURL)) })},
	}
	if e.MailpitURL != "" {
		out = append(out, ComponentStatus{"mail UI", e.MailpitURL, check(func(ctx context.Context) error { return httpOK(ctx, e.MailpitURL+"/readyz") })})
	}
	out = append(out, ComponentStatus{"oidc", e.DevOIDCURL, check(func(ctx context.Context) error {
		return httpOK(ctx, e.DevOIDCURL+"/.well-known/openid-configuration")
	})}, ComponentStatus{"traces", e.TracesURL, check(func(ctx context.Context) error {
		return httpOK(ctx, e.TracesURL+"/api/traces")
	})})
	if !services {
		return out
	}
	reg, err := LoadRegistry(o.Root)
	if err != nil {
		return append(out, ComponentStatus{Name: "registry", Err: err})
	}
	for _, svc := range reg.Services {
		if !serviceExists(o.Root, svc.Name) {
			continue
		}
		url := serviceURL(&o, svc)
		out = append(out, ComponentStatus{svc.Name, url, check(func(ctx context.Context) error { return httpOK(ctx, url+svc.Health) })})
	}
	return out
}
