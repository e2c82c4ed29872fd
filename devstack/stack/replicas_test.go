package stack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReplicaPortsFollowTheLayout(t *testing.T) {
	chat := Service{Name: "chat", Port: 8084}
	std := Options{}
	if got := []int{std.ReplicaPort(chat, 1), std.ReplicaPort(chat, 2), std.ReplicaAdminPort(chat, 1), std.ReplicaAdminPort(chat, 2)}; !slices.Equal(got, []int{8184, 8284, 9184, 9284}) {
		t.Errorf("standard layout: %v", got)
	}
	based := Options{PortBase: 20000}
	if got := []int{based.ReplicaPort(chat, 1), based.ReplicaPort(chat, 3), based.ReplicaAdminPort(chat, 1), based.ReplicaAdminPort(chat, 3)}; !slices.Equal(got, []int{20054, 20154, 20084, 20184}) {
		t.Errorf("with a base: %v", got)
	}
	// Every port of the largest stack lies inside the span FreePortBase reserves.
	if p := based.ReplicaAdminPort(Service{Port: firstServicePort + maxServices - 1}, MaxReplicas); p >= 20000+PortSpan {
		t.Errorf("replica admin port %d outside the span %d", p, PortSpan)
	}
	for _, bad := range []string{"0x", "-1", strconv.Itoa(MaxReplicas + 1)} {
		o, err := OptionsFromEnv(func(k string) string { return map[string]string{"PARLEY_REPLICAS": bad}[k] })
		if err == nil {
			_, err = o.withDefaults()
		}
		if err == nil || !strings.Contains(err.Error(), "PARLEY_REPLICAS") {
			t.Errorf("PARLEY_REPLICAS=%s: %v, want an error naming the variable", bad, err)
		}
	}
}

// TestReplicasRunBehindTheServicePortAndRestartOneByOne runs two replicas of two fake services:
// each replica on its own ports with otherwise the same environment (peers at the balancers'
// ports), new connections spread over both, and a replica restarted by RestartReplica comes back
// as a new process without counting as a crash (the stack stops on crashes here).
func TestReplicasRunBehindTheServicePortAndRestartOneByOne(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	chat := fakeService{Service: Service{Name: "chat", Port: 8084, Database: "parley_chat"}}
	opts := testOptions(t, fakeRoot(t, fakeGateway, chat), out)
	opts.Replicas = 2
	opts.StopOnCrash = true
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if got := s.Services(); !slices.Equal(got, []string{"gateway", "chat"}) {
		t.Fatalf("Services = %v", got)
	}
	pids := map[int]int{}
	for i := 1; i <= 2; i++ {
		pid, env := fakeEnv(t, s.ReplicaURL("chat", i))
		pids[i] = pid
		svc, _ := s.reg.Service("chat")
		for k, v := range map[string]string{
			"LISTEN_ADDR":  fmt.Sprintf("127.0.0.1:%d", opts.PortBase+50*i+4),
			"ADMIN_ADDR":   fmt.Sprintf("127.0.0.1:%d", opts.PortBase+50*i+34),
			"CHAT_URL":     s.ServiceURL("chat"),
			"GATEWAY_URL":  s.GatewayURL(),
			"DATABASE_URL": s.ServiceDatabaseURL("chat"),
		} {
			if env[k] != v {
				t.Errorf("chat-%d: %s=%q, want %q", i, k, env[k], v)
			}
		}
		if s.ReplicaURL("chat", i) != fmt.Sprintf("http://127.0.0.1:%d", opts.ReplicaPort(svc, i)) {
			t.Errorf("ReplicaURL(chat, %d) = %s", i, s.ReplicaURL("chat", i))
		}
	}
	if pids[1] == pids[2] {
		t.Fatalf("both replicas are pid %d", pids[1])
	}
	seen := map[int]bool{}
	for range 4 {
		seen[pidOverNewConnection(t, s.ServiceURL("chat"))] = true
	}
	if !seen[pids[1]] || !seen[pids[2]] || len(seen) != 2 {
		t.Errorf("through the balancer %v, want both replicas %v", seen, pids)
	}
	if !strings.Contains(s.Summary(), fmt.Sprintf("2 replicas behind it: %d, %d", opts.PortBase+50+4, opts.PortBase+100+4)) {
		t.Errorf("summary does not list the replicas:\n%s", s.Summary())
	}

	for i := 1; i <= 2; i++ {
		if err := s.RestartReplica(ctx, "chat", i); err != nil {
			t.Fatal(err)
		}
		pid, _ := fakeEnv(t, s.ReplicaURL("chat", i))
		if pid == pids[i] || !alive(pid) || alive(pids[i]) {
			t.Errorf("chat-%d: pid %d before, %d after the restart", i, pids[i], pid)
		}
		pids[i] = pid
	}
	select {
	case <-s.Done():
		t.Fatalf("the stack failed: %v", s.Err())
	default:
	}
	if n := s.Restarts("chat"); n != 0 {
		t.Errorf("Restarts = %d: planned restarts counted as crashes", n)
	}
	if counts := s.BalancedConnections("chat"); len(counts) != 2 || counts[0] < 2 || counts[1] < 2 {
		t.Errorf("BalancedConnections = %v", counts)
	}
	if !strings.Contains(out.String(), "chat-1") || !strings.Contains(out.String(), "fake service: stopping") {
		t.Errorf("output does not name the replicas or show the graceful stop")
	}
}

// pidOverNewConnection asks a fake service for its pid over a connection of its own, so that a
// balancer picks a replica for it.
func pidOverNewConnection(t *testing.T, url string) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	res, err := client.Get(url + "/env")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		PID int `json:"pid"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.PID
}
