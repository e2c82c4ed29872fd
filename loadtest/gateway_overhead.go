package main

// The gateway's overhead: one cheap unary RPC, GetProfile of one's own profile, closed loop,
// first straight to the profile service and then through the gateway, with the same workers,
// tokens, codec and client. The difference is what the gateway adds (JWT check, rate limit,
// revocation check, proxying).

import (
	"context"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
)

// UnaryRun is one closed-loop run of GetProfile.
type UnaryRun struct {
	Skipped           string           `json:"skipped,omitempty"`
	URL               string           `json:"url"`
	Calls             int64            `json:"calls"`
	Errors            map[string]int64 `json:"errors"`
	DurationSeconds   float64          `json:"duration_seconds"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	Latency           Latency          `json:"latency"`
	CPU               *PhaseCPU        `json:"cpu,omitempty"`
}

// GatewayOverhead compares the two runs.
type GatewayOverhead struct {
	Skipped   string   `json:"skipped,omitempty"`
	Procedure string   `json:"procedure"`
	Codec     string   `json:"codec"`
	Workers   int      `json:"workers"`
	Direct    UnaryRun `json:"direct"`
	Gateway   UnaryRun `json:"gateway"`
	// Ratio is the gateway's req/s over the direct req/s.
	Ratio float64 `json:"ratio"`
	// GatewayMsPerCall is the gateway process's CPU during the proxied run per call.
	GatewayMsPerCall float64 `json:"gateway_cpu_ms_per_call"`
	// ProfileMsPerCall is the profile service's CPU per call in the direct run.
	ProfileMsPerCall float64 `json:"profile_cpu_ms_per_call"`
}

const getProfileProcedure = profilev1connect.ProfileServiceGetProfileProcedure

func (r *runner) runGatewayOverhead(ctx context.Context) GatewayOverhead {
	res := GatewayOverhead{Procedure: strings.TrimPrefix(getProfileProcedure, "/"), Codec: r.cfg.Codec, Workers: r.cfg.Workers}
	if len(r.msgUsers) == 0 {
		res.Skipped = "no users"
		return res
	}
	if r.tgt.ProfileURL == "" {
		res.Direct.Skipped = "the profile service's address is not known (give -profile-url)"
	} else {
		res.Direct = r.runUnary(ctx, "direct", strings.TrimRight(r.tgt.ProfileURL, "/"))
	}
	if ctx.Err() == nil {
		res.Gateway = r.runUnary(ctx, "gateway", strings.TrimRight(r.tgt.GatewayURL, "/")+"/api")
	}
	if res.Direct.RequestsPerSecond > 0 {
		res.Ratio = res.Gateway.RequestsPerSecond / res.Direct.RequestsPerSecond
	}
	res.GatewayMsPerCall = msPerUnitOf(res.Gateway.CPU, "gateway")
	res.ProfileMsPerCall = msPerUnitOf(res.Direct.CPU, "profile")
	return res
}

func msPerUnitOf(c *PhaseCPU, name string) float64 {
	if c == nil {
		return 0
	}
	for _, p := range c.Processes {
		if p.Name == name && p.Found {
			return p.MsPerUnit
		}
	}
	return 0
}

// runUnary calls GetProfile at baseURL from the workers for the baseline duration.
func (r *runner) runUnary(ctx context.Context, label, baseURL string) UnaryRun {
	run := UnaryRun{URL: baseURL + getProfileProcedure, Errors: map[string]int64{}}
	hc := newHTTPClient(r.cfg.Workers)
	defer hc.CloseIdleConnections()
	client := profilev1connect.NewProfileServiceClient(hc, baseURL, codecOptions(r.cfg.Codec)...)

	// One call first, so an unreachable or refusing service is a note rather than a run of errors.
	probeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := client.GetProfile(probeCtx, withToken(&profilev1.GetProfileRequest{}, r.msgUsers[0].token))
	cancel()
	if err != nil {
		if isGatewayRateLimit(err) {
			run.Skipped = errRateLimited.Error()
		} else {
			run.Skipped = "GetProfile failed: " + err.Error()
		}
		return run
	}

	var mu sync.Mutex
	tr := r.runTimed(ctx, "unary-"+label, "call", r.cfg.Workers,
		func(ctx context.Context, w int) error {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err := client.GetProfile(cctx, withToken(&profilev1.GetProfileRequest{}, r.msgUsers[w%len(r.msgUsers)].token))
			return err
		},
		func(_ int, err error) bool {
			mu.Lock()
			run.Errors[connect.CodeOf(err).String()]++
			mu.Unlock()
			return false
		})
	run.Calls = tr.done
	run.DurationSeconds = tr.elapsed.Seconds()
	run.RequestsPerSecond = float64(run.Calls) / tr.elapsed.Seconds()
	run.Latency = tr.latency
	run.CPU = &tr.cpu
	return run
}
